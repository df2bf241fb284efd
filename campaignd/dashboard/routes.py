"""The dashboard's routes under /dashboard: login/logout, campaigns, one campaign, lists, one
list's growth."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from campaignd.campaigns.growth import DEFAULT_DAYS, list_growth
from campaignd.campaigns.stats import campaign_stats
from campaignd.config import Settings
from campaignd.dashboard.session import LOGIN_COOKIE, SESSION_COOKIE, SessionSigner, new_nonce
from campaignd.dashboard.views import campaign_row, campaign_rows, chart
from campaignd.domain import ApiToken
from campaignd.errors import InvalidInput, NotFound
from campaignd.importing.csvsafe import safe_row
from campaignd.rendering.dashboard_pages import render_dashboard
from campaignd.store.protocol import Store

PREFIX = "/dashboard"
#: Checks a presented API token (campaignd.api.tokens.check_token, bound to the store).
TokenCheck = Callable[[str], Awaitable[ApiToken | None]]
Page = Callable[[Request, str], Awaitable[Response]]


def _csp(nonce: str) -> str:
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'; "
        f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    )


def _problem(status: int, title: str, message: str) -> HTMLResponse:
    """An error page; `message` may echo input (a path's id, a name): the template escapes it."""
    nonce = new_nonce()
    page = render_dashboard(
        "problem", title=title, csrf=None, live=None, nonce=nonce, error=message
    )
    return _html(page, nonce, status)


def _html(body: str, nonce: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": _csp(nonce),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


class Dashboard:
    """The handlers, sharing the store, the signer and the clock."""

    def __init__(
        self, store: Store, settings: Settings, check: TokenCheck, clock: Callable[[], dt.datetime]
    ) -> None:
        self.store = store
        self.settings = settings
        self.check = check
        self.clock = clock
        self.signer = SessionSigner(settings.require_secret())

    async def session_nonce(self, request: Request) -> str | None:
        """The nonce of the request's valid session, or None."""
        value = request.cookies.get(SESSION_COOKIE, "")
        parsed = self.signer.parse(value)
        if parsed is None:
            return None
        token = next((t for t in await self.store.api_tokens() if t.id == parsed.token_id), None)
        if token is None:
            return None
        session = self.signer.verify(value, token.token_hash, self.clock())
        return None if session is None else session.nonce

    def guarded(self, page: Page, json: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def respond(request: Request) -> Response:
            nonce = await self.session_nonce(request)
            if nonce is None:
                if json:
                    return JSONResponse({"detail": "log in first"}, status_code=401)
                return RedirectResponse(PREFIX + "/login", status_code=303)
            try:
                return await page(request, self.signer.csrf(nonce))
            except NotFound as exc:
                return _problem(404, "Not found", str(exc))
            except InvalidInput as exc:
                return _problem(400, "Invalid input", str(exc))

        return respond

    def _login_page(self, error: str | None, status: int = 200) -> Response:
        login_nonce = new_nonce()
        body = render_dashboard(
            "login", title="Log in", csrf=None, live=None, nonce=new_nonce(), error=error,
            login_csrf=self.signer.csrf(login_nonce),
        )  # fmt: skip
        response = _html(body, new_nonce(), status)
        response.set_cookie(
            LOGIN_COOKIE, login_nonce, max_age=1800, path=PREFIX, httponly=True, samesite="strict"
        )
        return response

    async def login_form(self, request: Request) -> Response:
        return self._login_page(None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        presented = str(form.get("csrf", ""))
        if not self.signer.check_csrf(request.cookies.get(LOGIN_COOKIE), presented):
            return self._login_page("The form expired; please try again.", 403)
        token = await self.check(str(form.get("token", "")).strip())
        if token is None:
            return self._login_page("That API token is not valid (unknown or revoked).", 401)
        response = RedirectResponse(PREFIX, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            self.signer.cookie(token.id, token.token_hash, self.clock()),
            path=PREFIX,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        response.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return response

    async def logout(self, request: Request) -> Response:
        nonce = await self.session_nonce(request)
        form = await request.form()
        if nonce is None or not self.signer.check_csrf(nonce, str(form.get("csrf", ""))):
            return _problem(403, "Forbidden", "The form is not valid (CSRF check failed).")
        response = RedirectResponse(PREFIX + "/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX)
        return response

    def _page(self, template: str, csrf: str, live: str | None, **context: Any) -> Response:
        nonce = new_nonce()
        return _html(
            render_dashboard(template, csrf=csrf, live=live, nonce=nonce, **context), nonce
        )

    async def index(self, request: Request, csrf: str) -> Response:
        rows = await campaign_rows(self.store, self.clock())
        return self._page("index", csrf, PREFIX + "/live.json", title="Campaigns", rows=rows)

    async def live(self, request: Request, csrf: str) -> Response:
        rows = await campaign_rows(self.store, self.clock())
        return JSONResponse({"rows": [{"id": r.id, "cells": r.cells()} for r in rows]})

    def _id(self, request: Request, what: str = "campaign") -> int:
        text = str(request.path_params["id"])
        if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
            raise NotFound(f"no {what} {text}")
        return int(text)

    async def campaign_live(self, request: Request, csrf: str) -> Response:
        campaign = await self.store.get_campaign(self._id(request))
        row = await campaign_row(self.store, campaign, self.clock())
        return JSONResponse({"rows": [{"id": row.id, "cells": row.cells()}]})

    async def campaign(self, request: Request, csrf: str) -> Response:
        campaign = await self.store.get_campaign(self._id(request))
        now = self.clock()
        row = await campaign_row(self.store, campaign, now)
        s = await campaign_stats(self.store, campaign.id, self.settings.tracking.mode, now)

        def pct(rate: float | None) -> str:
            return "-" if rate is None else f"{rate * 100:.1f}%"

        def of_sent(n: int | None) -> str:
            return "-" if n is None or not s.sent else pct(n / s.sent)

        measures = [
            ("sent", s.sent, pct(s.sent / s.to_send) if s.to_send else "-"),
            ("failed", s.failed, of_sent(s.failed)),
            ("unknown", s.unknown, of_sent(s.unknown)),
            ("hard bounces", s.bounced_hard, of_sent(s.bounced_hard)),
            ("soft bounces", s.bounced_soft, of_sent(s.bounced_soft)),
            ("complaints", s.complaints, of_sent(s.complaints)),
            ("unsubscribes", s.unsubscribes, of_sent(s.unsubscribes)),
            ("opens", s.opens, of_sent(s.opens)),
            ("unique opens", "-" if s.unique_opens is None else s.unique_opens, pct(s.open_rate)),
            ("machine opens", s.machine_opens, "-"),
            ("clicks", s.clicks, of_sent(s.clicks)),
            ("unique clicks", "-" if s.unique_clicks is None else s.unique_clicks,
             pct(s.click_rate)),
            ("machine clicks", s.machine_clicks, "-"),
        ]  # fmt: skip
        return self._page(
            "campaign", csrf, f"{PREFIX}/campaigns/{campaign.id}/live.json",
            title=f"Campaign {campaign.name}", row=row, measures=measures, bucket=s.bucket,
            send_chart=chart(s.series, ("sent", "failed")),
            hit_chart=chart(s.series, ("opens", "clicks")), links=s.links,
            failures=await self.store.failures(campaign.id),
        )  # fmt: skip

    async def failures_csv(self, request: Request, csrf: str) -> Response:
        campaign = await self.store.get_campaign(self._id(request))
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["email", "status", "attempts", "code", "enhanced", "reply", "server"])
        for f in await self.store.failures(campaign.id):
            writer.writerow(
                safe_row([f.email, f.status.value, f.attempts, f.code, f.enhanced or "",
                          f.text, f.server or ""])
            )  # fmt: skip
        name = f"campaign-{campaign.id}-failures.csv"
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    async def lists(self, request: Request, csrf: str) -> Response:
        found = await self.store.lists()
        return self._page("lists", csrf, None, title="Lists", lists=found)

    async def list_page(self, request: Request, csrf: str) -> Response:
        text = request.query_params.get("days", str(DEFAULT_DAYS))
        if not text.isascii() or not text.isdigit() or len(text) > 5:
            raise InvalidInput(f"days must be a whole number of days, got {text[:20]!r}")
        g = await list_growth(self.store, self._id(request, "list"), self.clock(), int(text))
        changed = [p for p in reversed(g.series) if p.subscribed or p.unsubscribed]
        return self._page(
            "list", csrf, None, title=f"List {g.name}", growth=g, changed=changed, bucket="day",
            flow_chart=chart(g.series, ("subscribed", "unsubscribed")),
            total_chart=chart(g.series, ("total",)),
        )  # fmt: skip


def dashboard_routes(
    store: Store, settings: Settings, check: TokenCheck, clock: Callable[[], dt.datetime]
) -> list[Route]:
    """The /dashboard routes for the admin listener's app (503 pages without security.secret,
    which signs the session cookie: the API itself does not need it)."""
    if not settings.security.secret.get_secret_value():

        async def unset(request: Request) -> Response:
            text = "The dashboard needs security.secret (it signs the session cookie)."
            return _problem(503, "Unavailable", text)

        methods = ["GET", "POST"]
        return [
            Route(PREFIX, unset, methods=methods),
            Route(PREFIX + "/{rest:path}", unset, methods=methods),
        ]
    d = Dashboard(store, settings, check, clock)
    return [
        Route(PREFIX + "/login", d.login_form, methods=["GET"]),
        Route(PREFIX + "/login", d.login, methods=["POST"]),
        Route(PREFIX + "/logout", d.logout, methods=["POST"]),
        Route(PREFIX, d.guarded(d.index), methods=["GET"]),
        Route(PREFIX + "/live.json", d.guarded(d.live, json=True), methods=["GET"]),
        Route(PREFIX + "/lists", d.guarded(d.lists), methods=["GET"]),
        Route(PREFIX + "/lists/{id}", d.guarded(d.list_page), methods=["GET"]),
        Route(PREFIX + "/campaigns/{id}", d.guarded(d.campaign), methods=["GET"]),
        Route(
            PREFIX + "/campaigns/{id}/live.json",
            d.guarded(d.campaign_live, json=True),
            methods=["GET"],
        ),
        Route(PREFIX + "/campaigns/{id}/failures.csv", d.guarded(d.failures_csv), methods=["GET"]),
    ]
