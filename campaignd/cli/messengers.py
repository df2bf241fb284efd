"""`campaignd messengers` commands."""

from __future__ import annotations

import click


@click.group()
def messengers() -> None:
    """messengers commands."""
