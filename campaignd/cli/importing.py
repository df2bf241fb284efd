"""`campaignd subscribers import`: CSV import."""

from __future__ import annotations

import click


@click.command()
def import_cmd() -> None:
    """Import subscribers from a CSV file."""
