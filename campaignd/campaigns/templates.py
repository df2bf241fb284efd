"""Template (layout) use cases: add and replace (checked: syntax, sandbox, size), show, remove."""

from __future__ import annotations

from pathlib import Path

from campaignd.config import AppSettings
from campaignd.domain import Template
from campaignd.errors import InvalidInput
from campaignd.policy import TEMPLATE_USERS
from campaignd.store.protocol import Store

MAX_TEMPLATE_NAME = 200


def read_template(path: Path) -> str:
    """The template source in `path` (UTF-8); InvalidInput naming the file otherwise."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None


def template_name(name: str) -> str:
    """The name as stored (trimmed); InvalidInput if empty or too long."""
    name = name.strip()
    if not name:
        raise InvalidInput("the template name is empty", field="name")
    if len(name) > MAX_TEMPLATE_NAME:
        raise InvalidInput(
            f"the template name is longer than {MAX_TEMPLATE_NAME} characters", field="name"
        )
    return name


def check_template(body: str, app: AppSettings) -> None:
    """The layout compiles, places {{ content }} and renders on sample data in the sandbox
    within app.template_max_output and app.template_timeout; TemplateError names the line."""
    from campaignd.rendering.compose import check_layout

    check_layout(body, app)


async def add_template(store: Store, name: str, body: str, app: AppSettings) -> Template:
    """Check the layout, then store it as NAME; Conflict if the name exists."""
    name = template_name(name)
    check_template(body, app)
    return await store.add_template(name, body)


async def update_template(store: Store, name: str, body: str, app: AppSettings) -> Template:
    """Replace the layout NAME, checked as `add` checks it. Campaigns using it get the new
    one from their next render on (a running campaign: after pause and resume)."""
    found = await store.get_template(name)
    check_template(body, app)
    return await store.update_template(found.id, body)


async def delete_template(store: Store, name: str) -> Template:
    """Remove the layout NAME; refused, naming them, while any campaign uses it."""
    found = await store.get_template(name)
    return await store.delete_template(found.id, TEMPLATE_USERS)
