"""`campaignd templates`: campaign layouts that wrap a campaign's body: add, show, update, rm."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.campaigns import templates as use
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group()
def templates() -> None:
    """Add, show, replace and remove campaign templates (layouts placing the body with
    {{ content }})."""


@templates.command("add")
@click.argument("name")
@click.option("--file", "path", required=True, type=FILE, help="The template (Jinja2, UTF-8).")
@pass_app
@async_command
async def add(app: AppContext, name: str, path: Path) -> None:
    """Check the layout in --file and store it as NAME."""
    body = use.read_template(path)
    use.check_template(body, app.settings.app)  # before opening the database
    async with open_store(app.settings) as store:
        added = await use.add_template(store, name, body, app.settings.app)
    click.echo(f"added template {added.name!r} (id {added.id})")


@templates.command("update")
@click.argument("name")
@click.option("--file", "path", required=True, type=FILE, help="The new template source.")
@pass_app
@async_command
async def update(app: AppContext, name: str, path: Path) -> None:
    """Replace the layout NAME with --file, checked as `add` checks it."""
    body = use.read_template(path)
    async with open_store(app.settings) as store:
        updated = await use.update_template(store, name, body, app.settings.app)
    click.echo(f"updated template {updated.name!r} (id {updated.id})")


@templates.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the template as JSON.")
@pass_app
@async_command
async def show(app: AppContext, name: str, as_json: bool) -> None:
    """Print the source of the layout NAME (as `update --file` takes it back); --json adds
    its id and times."""
    async with open_store(app.settings) as store:
        found = await store.get_template(name)
    if as_json:
        print_json(found)
        return
    click.echo(found.body, nl=False)


@templates.command("rm")
@click.argument("name")
@pass_app
@async_command
async def rm(app: AppContext, name: str) -> None:
    """Remove the layout NAME; refused while any campaign uses it."""
    async with open_store(app.settings) as store:
        removed = await use.delete_template(store, name)
    click.echo(f"removed template {removed.name!r} (id {removed.id})")


@templates.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the templates as a JSON array.")
@pass_app
@async_command
async def ls(app: AppContext, as_json: bool) -> None:
    """Show every template."""
    async with open_store(app.settings) as store:
        found = await store.templates()
    if as_json:
        print_json(found)
        return
    print_table(
        ["id", "name", "size", "created"],
        [(t.id, t.name, f"{len(t.body.encode('utf-8'))} bytes", t.created_at) for t in found],
    )
