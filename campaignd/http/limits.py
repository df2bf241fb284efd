"""Request body limits (an ASGI middleware) and bounded form reading."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Pages post one small field; webhooks post batches of JSON events.
FORM_LIMIT = 16 * 1024
WEBHOOK_LIMIT = 4 * 1024 * 1024


class BodyLimit:
    """Refuse request bodies over the limit for their path with 413, whatever Content-Length
    claims (chunked bodies are counted as they arrive)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        limit = WEBHOOK_LIMIT if path.startswith("/webhooks/") else FORM_LIMIT
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > limit:
                    await _too_large(send)
                    return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, limited, send)


async def _too_large(send: Send) -> None:
    body = b"request body too large\n"
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def form_field(request: Request, name: str) -> str | None:
    """One field of a urlencoded or multipart form (no files), or None."""
    async with request.form(max_files=0, max_fields=20) as form:
        value = form.get(name)
    return value if isinstance(value, str) else None
