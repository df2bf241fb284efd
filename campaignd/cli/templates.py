"""`campaignd templates`: campaign layouts that wrap a campaign's body."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.cli.common import (
    AppContext,
    async_command,
    fail,
    open_store,
    pass_app,
    print_json,
    print_table,
    run,
)
from campaignd.domain import Template

MAX_TEMPLATE_NAME = 200


@click.group()
def templates() -> None:
    """Add and show campaign templates (layouts placing the body with {{ content }})."""


@templates.command("add")
@click.argument("name")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The template source (Jinja2, UTF-8).",
)
@pass_app
def add(app: AppContext, name: str, path: Path) -> None:
    """Check the layout in --file and store it as NAME."""
    from campaignd.rendering.templates import check_layout

    name = name.strip()
    if not name:
        fail("the template name is empty")
    if len(name) > MAX_TEMPLATE_NAME:
        fail(f"the template name is longer than {MAX_TEMPLATE_NAME} characters")
    try:
        body = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}")
        return
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
        return
    check_layout(body)  # TemplateError names the line and the reason
    added = run(_add(app, name, body))
    click.echo(f"added template {added.name!r} (id {added.id})")


async def _add(app: AppContext, name: str, body: str) -> Template:
    async with open_store(app.settings) as store:
        return await store.add_template(name, body)


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
