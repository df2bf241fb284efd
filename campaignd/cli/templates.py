"""`campaignd templates` commands."""

from __future__ import annotations

import click


@click.group()
def templates() -> None:
    """templates commands."""
