"""/api/v1/templates: campaign layouts that wrap the body with {{ content }}."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import MAX_SOURCE, Body, Name, Page, PageQuery, Text, page
from campaignd.domain import Template
from campaignd.errors import InvalidInput


class NewTemplate(Body):
    name: Name
    body: Annotated[Text, Field(min_length=1, max_length=MAX_SOURCE)]


async def list_templates(call: Call) -> Page[Template]:
    return page(await call.store.templates(), lambda t: t.id, call.query)


async def create_template(call: Call) -> Template:
    from campaignd.rendering.templates import check_layout

    new: NewTemplate = call.body
    name = new.name.strip()
    if not name:
        raise InvalidInput("the template name is empty")
    app = call.settings.app
    await asyncio.to_thread(  # up to template_timeout: not on the daemon's event loop
        check_layout, new.body, max_output=app.template_max_output, timeout=app.template_timeout
    )
    return await call.store.add_template(name, new.body)


ENDPOINTS = [
    Endpoint("GET", "/templates", list_templates, "Templates", Page[Template], "templates",
             query=PageQuery),
    Endpoint("POST", "/templates", create_template, "Check and add a template", Template,
             "templates", body=NewTemplate, status=201, write=True, idempotent=True,
             statuses=(409,)),
]  # fmt: skip
