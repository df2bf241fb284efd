"""The admin API against hostile input: times out of range, attributes no store can hold, keys
given twice, retries that differ only in spacing, and use-case errors that name their field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_api_endpoints import _list, refused

JSON = {"content-type": "application/json"}


async def _raw(api: Api, path: str, raw: str, **headers: str) -> Any:
    return await api.client.post(path, content=raw.encode(), headers={**JSON, **headers})


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T12:00:00-23:59",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59Z",
    ],
)
async def test_send_at_out_of_range_is_422_naming_the_field(api: Api, when: str) -> None:
    news = await _list(api)
    body = {"name": "c", "subject": "s", "lists": [news["id"]], "body": "b", "send_at": when}
    refused(await api.client.post("/campaigns", json=body), 422, "body.send_at")
    assert await api.store.campaigns() == []
    made = await api.client.post("/campaigns", json={**body, "send_at": None})
    cid = made.json()["id"]
    refused(
        await api.client.patch(f"/campaigns/{cid}", json={"send_at": when}), 422, "body.send_at"
    )
    refused(
        await api.client.post(f"/campaigns/{cid}/schedule", json={"send_at": when}),
        422,
        "body.send_at",
    )
    assert (await api.store.get_campaign(cid)).send_at is None


@pytest.mark.parametrize("when", ["0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z"])
async def test_years_0_and_10000_are_422(api: Api, when: str) -> None:
    news = await _list(api)
    body = {"name": "c", "subject": "s", "lists": [news["id"]], "body": "b", "send_at": when}
    refused(await api.client.post("/campaigns", json=body), 422, "body.send_at")


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ('{"n": NaN}', "body"),
        ('{"n": Infinity}', "body"),
        ('{"n": [1, -Infinity]}', "body"),
        ('{"k\\u0000": "v"}', "body.attributes"),
        ('{"k": "v\\u0000"}', "body.attributes"),
        ('{"k": {"deep": ["\\u0000"]}}', "body.attributes"),
    ],
)
async def test_hostile_attributes_are_refused_and_not_stored(
    api: Api, attributes: str, field: str
) -> None:
    got = await _raw(
        api, "/subscribers", f'{{"email": "a@example.com", "attributes": {attributes}}}'
    )
    problem = refused(got, 422, field)
    assert (
        "NaN" in problem["detail"] or "Infinity" in problem["detail"] or "NUL" in problem["detail"]
    )
    assert await api.store.count_subscribers(None) == 0
    made = await api.client.post("/subscribers", json={"email": "b@example.com"})
    sid = made.json()["id"]
    for name in ("attributes", "merge_attributes"):
        got = await api.client.patch(
            f"/subscribers/{sid}", content=f'{{"{name}": {attributes}}}'.encode(), headers=JSON
        )
        refused(got, 422)
    assert (await api.store.get_subscriber_by_id(sid)).attributes == {}


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/subscribers", '{"email": "a@example.com", "email": "b@example.com"}'),
        ("/subscribers", '{"email": "a@example.com", "attributes": {"vip": false, "vip": true}}'),
        ("/lists", '{"name": "news", "name": "other"}'),
    ],
)
async def test_a_key_given_twice_is_422(api: Api, path: str, raw: str) -> None:
    problem = refused(await _raw(api, path, raw), 422, "body")
    assert "given twice" in problem["detail"]
    assert await api.store.count_subscribers(None) == 0 and await api.store.lists() == []


async def test_idempotent_retry_compares_the_parsed_body(api: Api) -> None:
    key = {"Idempotency-Key": "order-7"}
    first = await _raw(api, "/lists", '{"name": "news", "optin": "double"}', **key)
    again = await _raw(api, "/lists", '{ "optin" : "double",\n  "name" : "news" }', **key)
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = await _raw(api, "/lists", '{"name": "news", "optin": "single"}', **key)
    problem = refused(other, 422, "Idempotency-Key")
    assert "another request" in problem["detail"]
    assert len(await api.store.lists()) == 1


async def test_use_case_errors_name_their_field(api: Api) -> None:
    news = await _list(api)
    refused(await api.client.post("/subscribers", json={"email": "nope"}), 422, "body.email")
    got = await api.client.post("/subscribers", json={"email": "a@example.com", "lists": [99]})
    refused(got, 404, "body.lists")
    refused(await api.client.post("/lists", json={"name": "NEWS"}), 409, "body.name")
    await api.client.post("/subscribers", json={"email": "a@example.com"})
    refused(
        await api.client.post("/subscribers", json={"email": "a@example.com"}), 409, "body.email"
    )
    body = {"name": "c", "subject": "s", "lists": [news["id"], 98], "body": "b"}
    refused(await api.client.post("/campaigns", json=body), 404, "body.lists")
    past = {**body, "lists": [news["id"]], "send_at": "2001-01-01T00:00:00Z"}
    refused(await api.client.post("/campaigns", json=past), 422, "body.send_at")


@pytest.mark.parametrize(
    "query",
    ["after=0&after=5", "limit=1&limit=1000", "after=1&limit=2&after=1"],
)
async def test_a_query_parameter_given_twice_is_422(api: Api, query: str) -> None:
    for i in range(3):
        await _list(api, f"l{i}")
    got = await api.client.get(f"/lists?{query}")
    problem = refused(got, 422)
    assert "more than once" in problem["detail"]
    assert problem["errors"][0]["field"] in ("query.after", "query.limit")
