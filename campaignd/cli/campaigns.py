"""`campaignd campaigns` commands."""

from __future__ import annotations

import click


@click.group()
def campaigns() -> None:
    """campaigns commands."""
