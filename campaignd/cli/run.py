"""`campaignd run`: the daemon."""

from __future__ import annotations

import click


@click.command()
def run_cmd() -> None:
    """Run the daemon."""
