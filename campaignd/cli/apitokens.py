"""`campaignd api-tokens`: create (printed once), list and revoke the admin API's tokens."""

from __future__ import annotations

import click

from campaignd.api.tokens import create_token, token_view
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.domain import utcnow


@click.group("api-tokens")
def api_tokens() -> None:
    """Create, list and revoke admin API tokens (docs/api.md)."""


@api_tokens.command("create")
@click.argument("name")
@click.option("--read-only", is_flag=True, help="The token can only read (GET).")
@pass_app
@async_command
async def create(app: AppContext, name: str, read_only: bool) -> None:
    """Create the token NAME and print it once: only its hash is kept."""
    async with open_store(app.settings) as store:
        token, secret = await create_token(store, name, read_only=read_only, now=utcnow())
    kind = "read-only" if token.read_only else "read-write"
    click.echo(f"created {kind} API token {token.name!r}; it is shown only now:", err=True)
    click.echo(secret)


@api_tokens.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the tokens as a JSON array.")
@pass_app
@async_command
async def ls(app: AppContext, as_json: bool) -> None:
    """Show every token (names and rights, never a secret)."""
    async with open_store(app.settings) as store:
        found = await store.api_tokens()
    if as_json:
        print_json([token_view(t) for t in found])
        return
    print_table(
        ["id", "name", "access", "created"],
        [(t.id, t.name, "read-only" if t.read_only else "read-write", t.created_at) for t in found],
    )


@api_tokens.command("revoke")
@click.argument("name")
@pass_app
@async_command
async def revoke(app: AppContext, name: str) -> None:
    """Delete the token NAME: requests with it get 401 from now on."""
    async with open_store(app.settings) as store:
        await store.revoke_api_token(name)
    click.echo(f"revoked API token {name!r}")
