"""RFC 9457 problem details: campaignd errors and bad input as application/problem+json."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from campaignd.errors import (
    CampaigndError,
    Conflict,
    InvalidInput,
    MessengerError,
    NotFound,
    TemplateError,
    TransitionRefused,
    UnknownMessenger,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://campaignd.invalid/problems/"  # documented in docs/api.md, not fetched

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    500: "Internal error",
    502: "Messenger failed",
    503: "Temporarily unavailable",
}
_TYPES = {
    401: "unauthorized",
    403: "read-only-token",
    404: "not-found",
    409: "conflict",
    413: "too-large",
    422: "invalid-input",
    502: "messenger",
    503: "unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    errors: Sequence[Mapping[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem+json response: type, title, status, detail and the fields that were wrong."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + _TYPES.get(status, str(status)),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": [dict(e) for e in errors],
    }
    return Response(
        json.dumps(body, ensure_ascii=False),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def status_of(exc: CampaigndError) -> int:
    """NotFound 404; a conflict or a refused state change 409; bad input 422; SMTP 502; the
    database or configuration failing 503."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | TransitionRefused):
        return 409
    if isinstance(exc, InvalidInput | TemplateError | UnknownMessenger):
        return 422
    if isinstance(exc, MessengerError):
        return 502
    return 503


def from_error(exc: CampaigndError, field: str | None = None) -> Response:
    """The problem for `exc`; `errors` names `field` (else the error's own field) if any."""
    field = field or exc.field
    status = status_of(exc)
    if status == 503:  # the database or a setting: the details stay in the log
        log.error("API request failed: %s", exc, extra={"action": "api.error"})
        return problem(
            503, "temporarily unavailable, try again later", headers={"Retry-After": "30"}
        )
    errors = [{"field": field, "message": str(exc)}] if field else []
    return problem(status, str(exc), errors=errors)


def from_validation(exc: ValidationError, where: str) -> Response:
    """422 naming every field that was wrong (`where`: body or query)."""
    errors = [
        {
            "field": ".".join(str(p) for p in (where, *err["loc"])),
            "message": str(err["msg"]),
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    fields = ", ".join(e["field"] for e in errors[:5])
    return problem(422, f"invalid {where}: {fields}", errors=errors)
