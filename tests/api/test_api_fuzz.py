"""Schemathesis fuzzes every operation of the admin API from its own OpenAPI document: no 5xx,
and every answer (status, content type, body) as the document says. Bounded: a few examples
per operation, so the whole file stays well under a minute."""

from __future__ import annotations

import asyncio
import json
import warnings

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from campaignd.api.app import ENDPOINTS, create_api_app
from campaignd.api.tokens import create_token
from campaignd.domain import OptIn, utcnow
from campaignd.messengers.recording import RecordingMessenger
from campaignd.store.memory import MemoryStore
from tests.api.conftest import api_settings

STORE = MemoryStore()
MAIL = RecordingMessenger()
# No body limit in reach: an over-long field is then refused by its schema (422, what the
# negative-data check expects); the 413 is tested in test_api_endpoints.py.
APP = create_api_app(
    STORE, api_settings(max_body_size=100_000_000), messengers=lambda s: {"email": MAIL}
)


async def _seed() -> str:
    _, token = await create_token(STORE, "fuzz", read_only=False, now=utcnow())
    await STORE.create_list("news", OptIn.SINGLE, "")  # id 1, so ids in range find something
    return token


TOKEN = asyncio.run(_seed())
with warnings.catch_warnings():  # schemathesis drives ASGI apps through starlette's TestClient
    warnings.simplefilter("ignore")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


async def test_the_served_document_is_valid_openapi_3_1() -> None:
    transport = httpx.ASGITransport(app=APP)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        document = (await client.get("/api/v1/openapi.json")).json()
    validate(document)  # raises on an invalid document
    assert document["openapi"] == "3.1.0"
    operations = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert operations == {(e.method.lower(), "/api/v1" + e.path) for e in ENDPOINTS}
    assert len(operations) == 42
    assert json.dumps(document).count('"bearer"') >= 2


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
@settings(
    max_examples=6,
    deadline=2000,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_api_conforms_to_its_document(case: schemathesis.Case) -> None:
    # Every default check but one: schema-valid data may still be refused (422) by a rule the
    # schema cannot say (a template that does not compile, an address email-validator refuses).
    # The CSV upload's body is bytes: "a body of another type" means nothing there.
    excluded = [positive_data_acceptance]
    if case.operation.path == "/api/v1/imports":
        excluded.append(negative_data_rejection)
    # A case generated without a valid Authorization (negative headers) must go out without
    # our token: added back, it would be accepted and the negative check would fail on a
    # request the API never saw.
    negative = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    headers = {} if negative else {"Authorization": f"Bearer {TOKEN}"}
    case.call_and_validate(headers=headers, excluded_checks=excluded)
