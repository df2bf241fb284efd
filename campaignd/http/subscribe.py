"""GET /subscribe/{list_uuid} (the hosted form of a public list) and POST /subscribe.

POST takes a urlencoded or multipart form (``email``, ``name``, ``l`` = list uuids, and the
honeypot ``nonce`` that people leave empty) or the same as JSON (``lists`` for ``l``). Every
accepted request gets the same answer, byte for byte, whether the address was new, known,
blocklisted or the honeypot was filled: the sign-up itself, and the confirmation mail of
double opt-in lists, run after the answer is sent. Only public lists are used; others are
ignored like unknown ones. A client address may post SIGNUPS_PER_WINDOW times per window, and
one email address gets at most CONFIRMATIONS_PER_HOUR confirmation mails from the form.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from campaignd.domain import MailingList, Subscriber, strict_loads
from campaignd.errors import CampaigndError, InvalidInput, NotFound
from campaignd.http.clientlimit import client_key
from campaignd.http.context import HttpContext, context
from campaignd.http.pages import SECURITY_HEADERS, invalid_link, page
from campaignd.rendering.public_pages import render_page
from campaignd.subscribers import optin
from campaignd.subscribers.public import (
    MAX_LISTS,
    SignupRequest,
    chosen_lists,
    public_list,
    sign_up,
    signup_request,
)

log = logging.getLogger(__name__)

THANKS = (
    "Thank you. If this address can receive our emails, it is subscribed; lists that ask "
    "for confirmation have sent a message with a link to confirm."
)
HONEYPOT = "nonce"


async def form(request: Request) -> Response:
    ctx = context(request)
    try:
        found = await public_list(ctx.store, uuid.UUID(request.path_params["list_uuid"]))
    except (ValueError, NotFound):
        return invalid_link()
    html = render_page(
        "subscribe",
        title=f"Subscribe to {found.name}",
        intro=[found.description] if found.description else [],
        action=f"{ctx.base_path}/subscribe",
        lists=[found],
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


async def _fields(request: Request) -> tuple[dict[str, str], list[str], bool]:
    """(single fields, list uuids, is JSON); raise InvalidInput for a body that is neither."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        # strictly: a key given twice ("email", the honeypot) may be read otherwise upstream
        data: Any = strict_loads(await request.body(), "the body")
        if not isinstance(data, dict):
            raise InvalidInput("the body must be a JSON object")
        lists = data.get("lists", [])
        if not isinstance(lists, list) or not all(isinstance(x, str) for x in lists):
            raise InvalidInput("lists must be an array of list uuids")
        single = {k: data[k] for k in ("email", "name", HONEYPOT) if isinstance(data.get(k), str)}
        return single, lists, True
    if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise InvalidInput("send a form or JSON")
    async with request.form(max_files=0, max_fields=MAX_LISTS + 10) as got:
        single = {k: v for k in ("email", "name", HONEYPOT) if isinstance(v := got.get(k), str)}
        values = [v for v in got.getlist("l") if isinstance(v, str)]
    return single, values, False


def _answer(as_json: bool, message: str, status: int = 200) -> Response:
    if as_json:
        key = "message" if status < 400 else "error"
        return JSONResponse({key: message}, status_code=status, headers=SECURITY_HEADERS)
    title = "Thank you" if status < 400 else "Not subscribed"
    return page(
        title, [message] if status < 400 else [message, "Nothing was changed."], status=status
    )


async def subscribe(request: Request) -> Response:
    ctx = context(request)
    as_json = "json" in request.headers.get("content-type", "").lower()
    wait = ctx.signups.hit(client_key(request, ctx.settings.http.proxy_addresses))
    if wait:
        response = _answer(as_json, "too many requests: try again later", 429)
        response.headers["Retry-After"] = str(int(wait + 0.999))
        return response
    try:
        single, values, as_json = await _fields(request)
        req = signup_request(single.get("email"), single.get("name"), values)
        lists = await chosen_lists(ctx.store, req.list_uuids)
    except InvalidInput as exc:
        return _answer(as_json, str(exc), 400)
    if single.get(HONEYPOT):
        log.info("sign-up with the honeypot filled ignored", extra={"action": "http.signup"})
        return _answer(as_json, THANKS)
    response = _answer(as_json, THANKS)
    response.background = BackgroundTask(_sign_up, ctx, req, lists)
    return response


async def _sign_up(ctx: HttpContext, req: SignupRequest, lists: Sequence[MailingList]) -> None:
    """After the answer: subscribe, then send the confirmation; failures are only logged."""
    try:
        done = await sign_up(ctx.store, req, lists, ctx.clock())
        if done is None:
            log.info(
                "sign-up for a blocklisted subscriber ignored", extra={"action": "http.signup"}
            )
            return
        sub, awaiting = done
        log.info(
            "subscriber %d signed up to lists %s", sub.id, [m.id for m in lists],
            extra={"action": "http.signup"},
        )  # fmt: skip
        if awaiting and ctx.confirmations.hit(sub.email.lower()):
            log.info(
                "no confirmation to subscriber %d: %d sent in the last hour",
                sub.id,
                ctx.confirmations.limit,
                extra={"action": "http.signup"},
            )
        elif awaiting:
            await send_confirmation(ctx, sub, awaiting)
    except CampaigndError as exc:
        log.error("sign-up failed: %s", exc, extra={"action": "http.signup"})


async def send_confirmation(ctx: HttpContext, sub: Subscriber, list_ids: Sequence[int]) -> None:
    """The double opt-in message naming `list_ids`, through the configured messenger; without
    one it waits for `campaignd optin send`."""
    messenger = ctx.messenger()
    if messenger is None:
        log.warning(
            "no messenger for confirmation mails: subscriber %d waits for `optin send`",
            sub.id,
            extra={"action": "http.signup"},
        )
        return
    if ctx.optin_mailer is None:
        ctx.optin_mailer = optin.prepare(ctx.settings.app, ctx.secret)
    kind = await optin.send_confirmation(
        ctx.store, messenger, ctx.optin_mailer, sub, list_ids, ctx.clock
    )
    log.info(
        "confirmation to subscriber %d: %s",
        sub.id,
        kind.value if kind else "not built",
        extra={"action": "http.signup"},
    )
