"""/api/v1/templates: campaign layouts that wrap the body with {{ content }}; add, show, change."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import Field

from campaignd.api.endpoints import Call, Endpoint
from campaignd.api.schemas import MAX_SOURCE, Body, Name, Page, PageQuery, Text, page
from campaignd.campaigns import templates as cases
from campaignd.campaigns.templates import check_template
from campaignd.domain import Template
from campaignd.errors import InvalidInput


class NewTemplate(Body):
    name: Name
    body: Annotated[Text, Field(min_length=1, max_length=MAX_SOURCE)]


class TemplateChange(Body):
    body: Annotated[Text, Field(min_length=1, max_length=MAX_SOURCE)]


async def get_template(call: Call) -> Template:
    return await call.store.get_template_by_id(call.ids["template_id"])


async def update_template(call: Call) -> Template:
    found = await get_template(call)
    new: TemplateChange = call.body
    app = call.settings.app
    # the check renders in a sandbox for up to template_timeout: not on the daemon's event loop
    await asyncio.to_thread(check_template, new.body, app)
    return await cases.update_template(call.store, found.name, new.body, app)


async def delete_template(call: Call) -> Template:
    return await cases.delete_template(call.store, (await get_template(call)).name)


async def list_templates(call: Call) -> Page[Template]:
    return page(await call.store.templates(), lambda t: t.id, call.query)


async def create_template(call: Call) -> Template:
    from campaignd.rendering.templates import check_layout

    new: NewTemplate = call.body
    name = new.name.strip()
    if not name:
        raise InvalidInput("the template name is empty", field="name")
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
    Endpoint("GET", "/templates/{template_id}", get_template, "One template", Template,
             "templates", statuses=(404,)),
    Endpoint("PUT", "/templates/{template_id}", update_template,
             "Replace a template's layout, checked as on create", Template, "templates",
             body=TemplateChange, write=True, statuses=(404,)),
    Endpoint("DELETE", "/templates/{template_id}", delete_template,
             "Delete a template; 409 while a campaign uses it", Template, "templates",
             write=True, statuses=(404, 409)),
]  # fmt: skip
