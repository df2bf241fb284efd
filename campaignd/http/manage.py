"""GET and POST /manage/{token}: the preference page of `{{ manage_url() }}` links.

GET only shows the page (mail scanners fetch links): the name, and every public list with a
checkbox. POST does one thing, by the ``action`` field: ``save`` (name and lists), ``data``
(a JSON download of what is held), ``delete`` (asks again) and ``delete-confirmed`` (deletes
the subscriber and everything held). Every unusable token gets the same 404 page.
"""

from __future__ import annotations

import logging
import uuid

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from campaignd.domain import Subscriber
from campaignd.errors import InvalidInput, InvalidToken, NotFound
from campaignd.http.context import HttpContext, context
from campaignd.http.pages import SECURITY_HEADERS, invalid_link, page
from campaignd.http.subscribe import send_confirmation
from campaignd.rendering.public_pages import render_page
from campaignd.rendering.tokens import verify
from campaignd.subscribers.manage import wipe
from campaignd.subscribers.personal import export_data
from campaignd.subscribers.public import MAX_LISTS, preferences, update_preferences

log = logging.getLogger(__name__)


async def _resolve(ctx: HttpContext, token: str) -> Subscriber | None:
    try:
        data = verify(ctx.secret, "manage", token, ctx.previous_secrets)
        return await ctx.store.get_subscriber_by_uuid(data.subscriber_uuid)
    except (InvalidToken, NotFound):
        return None


async def _page(ctx: HttpContext, sub: Subscriber, status: int = 200) -> HTMLResponse:
    html = render_page(
        "manage",
        title="Your subscriptions",
        email=sub.email,
        name=sub.name,
        prefs=await preferences(ctx.store, sub),
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def show(request: Request) -> Response:
    ctx = context(request)
    sub = await _resolve(ctx, request.path_params["token"])
    return invalid_link() if sub is None else await _page(ctx, sub)


async def change(request: Request) -> Response:
    ctx = context(request)
    sub = await _resolve(ctx, request.path_params["token"])
    if sub is None:
        return invalid_link()
    async with request.form(max_files=0, max_fields=MAX_LISTS + 10) as form:
        action = form.get("action")
        name = form.get("name")
        values = [v for v in form.getlist("l") if isinstance(v, str)]
    if action == "save":
        return await _save(ctx, sub, name if isinstance(name, str) else None, values)
    if action == "data":
        return JSONResponse(
            await export_data(ctx.store, sub.email, ctx.clock()),
            headers={
                **SECURITY_HEADERS,
                "Content-Disposition": 'attachment; filename="my-subscription-data.json"',
            },
        )
    if action == "delete":
        return page(
            "Delete your data?",
            [
                f"This erases {sub.email}, its subscriptions and bounces, and your address "
                "from our sending records. "
                "You will get no more emails from us. This cannot be undone."
            ],
            form=("action", "delete-confirmed", "Yes, delete me"),
        )
    if action == "delete-confirmed":
        await wipe(ctx.store, sub.email, ctx.clock())  # GDPR erasure, as `subscribers wipe`
        log.info("subscriber %d deleted themselves", sub.id, extra={"action": "http.manage"})
        return page("Deleted", ["Your data has been deleted. You will get no more emails."])
    return page("Your subscriptions", ["Nothing was changed: unknown action."], status=400)


async def _save(ctx: HttpContext, sub: Subscriber, name: str | None, values: list[str]) -> Response:
    wanted = set()
    for value in values[:MAX_LISTS]:
        try:
            wanted.add(uuid.UUID(value))
        except ValueError:
            continue
    try:
        fresh, awaiting = await update_preferences(ctx.store, sub, name, wanted, ctx.clock())
    except InvalidInput as exc:
        return page("Your subscriptions", [f"Nothing was changed: {exc}."], status=400)
    log.info("subscriber %d changed preferences", sub.id, extra={"action": "http.manage"})
    if awaiting:
        await send_confirmation(ctx, fresh, awaiting)
    return await _page(ctx, fresh)
