"""The endpoint table and the plumbing every request goes through.

An endpoint is a row (method, path, handler, models); `handle` turns it into a Starlette
endpoint that authenticates, checks write rights, parses ids, query and body with pydantic,
honours Idempotency-Key on creates, maps campaignd errors to problem+json and logs every write
with the token's name. openapi.py describes the same rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from campaignd.api.idempotency import MAX_KEY, IdempotencyCache
from campaignd.api.problems import from_error, from_validation, problem
from campaignd.api.tokens import check_token
from campaignd.campaigns.trial import MessengerFactory
from campaignd.config import Settings
from campaignd.domain import ApiToken, strict_loads
from campaignd.errors import CampaigndError
from campaignd.store.protocol import Store

if TYPE_CHECKING:
    from campaignd.api.imports import ImportJobs

log = logging.getLogger("campaignd.api")

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1
_PARAM = re.compile(r"{(\w+)}")
_KEY = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY}}}")


@dataclass
class ApiContext:
    """What every handler may use: the store, the settings, the clock, the idempotency cache."""

    store: Store
    settings: Settings
    clock: Callable[[], dt.datetime]
    messengers: MessengerFactory  # builds the messengers for test sends
    idempotency: IdempotencyCache = field(default_factory=IdempotencyCache)
    imports: ImportJobs = field(default_factory=lambda: _import_jobs())


@dataclass
class Call:
    """One authenticated request, parsed: ids from the path, the query and body models."""

    ctx: ApiContext
    token: ApiToken
    ids: dict[str, int]
    query: Any
    body: Any
    status: int | None = None  # a handler may answer with another status than the endpoint's
    request: Request | None = None  # for an upload endpoint, which reads the body itself

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    def now(self) -> dt.datetime:
        return self.ctx.clock()


Handler = Callable[[Call], Awaitable[Any]]


def _import_jobs() -> ImportJobs:
    from campaignd.api.imports import ImportJobs

    return ImportJobs()


@dataclass(frozen=True)
class Endpoint:
    """One operation of the API; path is below /api/v1, each {param} an integer id."""

    method: str
    path: str
    handler: Handler
    summary: str
    response: Any  # a type pydantic can describe (a dataclass, a model, list[...])
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    write: bool = False
    idempotent: bool = False  # honours Idempotency-Key (creates)
    statuses: tuple[int, ...] = ()  # the problems it may answer besides 401/403/413/422
    upload: str | None = None  # the media type of a body the handler streams itself

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.strip("_")


@functools.cache
def adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def _unauthorized(detail: str, bad: bool) -> Response:
    challenge = 'Bearer realm="campaignd"' + (', error="invalid_token"' if bad else "")
    return problem(401, detail, headers={"WWW-Authenticate": challenge})


async def authenticate(request: Request, ctx: ApiContext) -> ApiToken | Response:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if not header:
        return _unauthorized("an API token is required: Authorization: Bearer TOKEN", False)
    if scheme.lower() != "bearer" or not presented.strip():
        return _unauthorized("use Authorization: Bearer TOKEN", True)
    try:
        token = await check_token(ctx.store, presented.strip())
    except CampaigndError as exc:
        return from_error(exc)
    if token is None:
        return _unauthorized("the API token is not valid (unknown or revoked)", True)
    return token


def _ids(endpoint: Endpoint, request: Request) -> dict[str, int] | None:
    ids = {}
    for name in endpoint.params:
        text = str(request.path_params.get(name, ""))
        if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
            return None
        ids[name] = int(text)
    return ids


@dataclass(frozen=True)
class _Parsed:
    model: Any  # the body model
    canonical: bytes  # the JSON as parsed, keys sorted, no spaces: what a retry must match


async def _body(endpoint: Endpoint, request: Request) -> _Parsed | Response:
    assert endpoint.body is not None
    raw = await request.body()
    if not raw.strip():
        raw = b"{}"
    else:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return problem(415, "the request body must be JSON (Content-Type: application/json)")
    try:  # a key given twice (a proxy may have read the other one), NaN, Infinity: refused
        value = strict_loads(raw, "body")
    except CampaigndError as exc:
        return from_error(exc, "body")
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    try:  # JSON mode: strict types, yet ISO times and enum values from their text
        return _Parsed(endpoint.body.model_validate_json(raw), canonical)
    except ValidationError as exc:
        return from_validation(exc, "body")


def _field(endpoint: Endpoint, name: str | None) -> str | None:
    """A use case's field as the API names it: body.NAME or query.NAME when it is one of theirs."""
    if name is None:
        return None
    top = name.split(".")[0]
    for where, model in (("body", endpoint.body), ("query", endpoint.query)):
        if model is not None and top in model.model_fields:
            return f"{where}.{name}"
    return name


def _repeated(request: Request) -> Response | None:
    """422 for a query parameter given more than once: which one counts may differ between a
    proxy in front and us, so neither does."""
    counts = Counter(k for k, _ in request.query_params.multi_items())
    twice = sorted(k for k, n in counts.items() if n > 1)
    if not twice:
        return None
    msg = f"query parameter {twice[0]!r} is given more than once"
    return problem(422, msg, errors=[{"field": f"query.{k}", "message": msg} for k in twice])


def handle(endpoint: Endpoint, ctx: ApiContext) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint for `endpoint`."""

    async def respond(request: Request) -> Response:
        token = await authenticate(request, ctx)
        if isinstance(token, Response):
            return token
        if endpoint.write and token.read_only:
            return problem(403, f"the API token {token.name!r} is read-only")
        ids = _ids(endpoint, request)
        if ids is None:
            return problem(404, f"no such resource: {request.url.path}")
        query = None
        if endpoint.query is not None:
            if (repeated := _repeated(request)) is not None:
                return repeated
            try:
                query = endpoint.query.model_validate(dict(request.query_params))
            except ValidationError as exc:
                return from_validation(exc, "query")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if endpoint.upload and ctype != endpoint.upload:
            return problem(415, f"send the body with Content-Type: {endpoint.upload}")
        body, canonical = None, None
        if endpoint.body is not None:
            parsed = await _body(endpoint, request)
            if isinstance(parsed, Response):
                return parsed
            body, canonical = parsed.model, parsed.canonical
        call = Call(ctx, token, ids, query, body, request=request if endpoint.upload else None)
        key = request.headers.get("idempotency-key")
        if endpoint.idempotent and key is not None:
            if not _KEY.fullmatch(key):
                msg = f"Idempotency-Key must be 1-{MAX_KEY} visible ASCII characters"
                return problem(422, msg, errors=[{"field": "Idempotency-Key", "message": msg}])
            if canonical is None:  # no JSON body (an upload streams its own: read only here)
                canonical = await request.body()
            fingerprint = hashlib.sha256(  # the parsed body: spaces and key order do not count
                b"%s %s\n%s" % (request.method.encode(), request.url.path.encode(), canonical)
            ).hexdigest()
            response = await ctx.idempotency.run(
                token.name, key, fingerprint, lambda: _run(endpoint, call)
            )
        else:
            response = await _run(endpoint, call)
        if endpoint.write:
            log.info(
                "%s %s by API token %s: %d",
                request.method,
                request.url.path,
                token.name,
                response.status_code,
                extra={"action": "api.write", "token": token.name},
            )
        return response

    respond.__name__ = endpoint.operation_id
    return respond


async def _run(endpoint: Endpoint, call: Call) -> Response:
    try:
        result = await endpoint.handler(call)
    except CampaigndError as exc:
        return from_error(exc, _field(endpoint, exc.field))
    status = call.status or endpoint.status
    if status == 204:
        return Response(status_code=204)
    return Response(
        adapter(endpoint.response).dump_json(result),
        status_code=status,
        media_type="application/json",
    )
