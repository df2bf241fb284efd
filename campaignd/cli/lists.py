"""`campaignd lists` commands."""

from __future__ import annotations

import click


@click.group()
def lists() -> None:
    """lists commands."""
