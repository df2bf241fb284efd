"""`campaignd db` commands."""

from __future__ import annotations

import click


@click.group()
def db() -> None:
    """db commands."""
