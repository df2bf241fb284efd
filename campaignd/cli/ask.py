"""Confirming a destructive command: `--yes`, a prompt on a terminal, else a refusal."""

from __future__ import annotations

import sys

import click

from campaignd.errors import InvalidInput


def confirm(question: str, yes: bool) -> None:
    """Go on if `yes` or the operator answers yes at a terminal; InvalidInput (nothing done)
    when there is no terminal to ask, and click.Abort on "no"."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise InvalidInput(f"{question} Not confirmed: add --yes (no terminal to ask)")
    if not click.confirm(question, default=False):
        raise click.Abort
