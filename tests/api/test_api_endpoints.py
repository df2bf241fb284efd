"""Every admin API endpoint through httpx: the answers, field names as the CLI's --json, and
bad input refused with problem+json while nothing changes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from campaignd.cli.common import to_jsonable
from campaignd.domain import (
    CampaignStatus,
    DeliveryRecord,
    DeliveryStatus,
    NewSubscriber,
    SubscriptionStatus,
    utcnow,
)
from tests.api.conftest import Api

PROBLEM = "application/problem+json"


def refused(got: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert got.status_code == status, got.text
    assert got.headers["content-type"] == PROBLEM
    body: dict[str, Any] = got.json()
    assert set(body) == {"type", "title", "status", "detail", "errors"}
    assert body["status"] == status and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


async def _list(api: Api, name: str = "news", optin: str = "single") -> dict[str, Any]:
    got = await api.client.post("/lists", json={"name": name, "optin": optin})
    assert got.status_code == 201, got.text
    return dict(got.json())


async def _campaign(api: Api, list_id: int, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "hello",
        "subject": "Hi {{ subscriber.name }}",
        "lists": [list_id],
        "body": "<p>Hello {{ subscriber.attributes.city }}</p>",
        **extra,
    }
    got = await api.client.post("/campaigns", json=body)
    assert got.status_code == 201, got.text
    return dict(got.json())


# -- lists ------------------------------------------------------------------------------------
async def test_lists_create_get_and_page(api: Api) -> None:
    made = [await _list(api, f"l{i}") for i in range(5)]
    assert set(made[0]) == {f.name for f in dataclasses.fields(type((await api.store.lists())[0]))}
    one = await api.client.get(f"/lists/{made[2]['id']}")
    assert one.json()["name"] == "l2"
    first = (await api.client.get("/lists", params={"limit": 2})).json()
    assert [m["name"] for m in first["items"]] == ["l0", "l1"]
    rest = (await api.client.get("/lists", params={"after": first["next_after"]})).json()
    assert [m["name"] for m in rest["items"]] == ["l2", "l3", "l4"] and rest["next_after"] is None
    refused(await api.client.get("/lists/999"), 404)
    refused(await api.client.get("/lists/abc"), 404)
    refused(await api.client.get("/lists/99999999999999999999"), 404)
    refused(await api.client.get("/lists", params={"limit": 0}), 422, "query.limit")


async def test_a_lists_growth_per_day(api: Api) -> None:
    made = await _list(api)
    before = utcnow().date().isoformat()
    for email in ("a@example.com", "b@example.com"):
        got = await api.client.post("/subscribers", json={"email": email, "lists": [made["id"]]})
        assert got.status_code == 201, got.text
    sid = (await api.store.get_subscriber("b@example.com")).id
    assert await api.store.unsubscribe(sid, None) == 1
    growth = (await api.client.get(f"/lists/{made['id']}/growth", params={"days": 3})).json()
    after = utcnow().date().isoformat()
    assert (growth["name"], growth["subscribers"], growth["days"], growth["before"]) == (
        "news", 1, 3, 0,
    )  # fmt: skip
    *earlier, today = growth["series"]
    assert [(p["subscribed"], p["unsubscribed"], p["total"]) for p in earlier] == [(0, 0, 0)] * 2
    assert today["at"] in {before, after}
    assert (today["subscribed"], today["unsubscribed"], today["total"]) == (2, 1, 1)
    assert len((await api.client.get(f"/lists/{made['id']}/growth")).json()["series"]) == 90
    refused(await api.client.get("/lists/999/growth"), 404)
    refused(await api.client.get(f"/lists/{made['id']}/growth?days=0"), 422, "query.days")
    refused(await api.client.get(f"/lists/{made['id']}/growth?days=x"), 422, "query.days")


async def test_bad_lists_are_refused_and_nothing_is_written(api: Api) -> None:
    await _list(api)
    refused(await api.client.post("/lists", json={"name": "news"}), 409)
    refused(await api.client.post("/lists", json={"name": ""}), 422, "body.name")
    refused(await api.client.post("/lists", json={"name": "a\x00b"}), 422, "body.name")
    refused(await api.client.post("/lists", json={"name": "x", "optin": "triple"}), 422)
    refused(await api.client.post("/lists", json={"name": "x", "colour": "red"}), 422)
    refused(await api.client.post("/lists", json=["x"]), 422)
    refused(
        await api.client.post(
            "/lists", content=b"{nope", headers={"content-type": "application/json"}
        ),
        422,
        "body",
    )
    refused(
        await api.client.post("/lists", content=b"name=x", headers={"content-type": "text/plain"}),
        415,
    )
    assert [m.name for m in await api.store.lists()] == ["news"]


async def test_body_over_the_limit_is_413(api: Api) -> None:
    got = await api.client.post("/lists", json={"name": "x", "description": "d" * 5000})
    refused(got, 413)

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 1000

    got = await api.client.post(
        "/lists", content=chunks(), headers={"content-type": "application/json"}
    )
    refused(got, 413)
    assert await api.store.lists() == []


# -- idempotency ------------------------------------------------------------------------------
async def test_idempotency_key_replays_the_first_answer(api: Api) -> None:
    key = {"Idempotency-Key": "order-42"}
    first = await api.client.post("/lists", json={"name": "news"}, headers=key)
    again = await api.client.post("/lists", json={"name": "news"}, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    assert len(await api.store.lists()) == 1
    other = await api.client.post("/lists", json={"name": "other"}, headers=key)
    refused(other, 422, "Idempotency-Key")
    assert len(await api.store.lists()) == 1
    # keys belong to a token: another token's same key is a new request
    fresh = await api.client.post(
        "/lists", json={"name": "other"}, headers={"Idempotency-Key": "k2"}
    )
    assert fresh.status_code == 201
    refused(
        await api.client.post("/lists", json={"name": "x"}, headers={"Idempotency-Key": "a b"}), 422
    )


async def test_subscriber_create_is_idempotent(api: Api) -> None:
    body = {"email": "ann@example.com"}
    key = {"Idempotency-Key": "signup-1"}
    first = await api.client.post("/subscribers", json=body, headers=key)
    again = await api.client.post("/subscribers", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    refused(await api.client.post("/subscribers", json=body), 409)


# -- subscribers ------------------------------------------------------------------------------
async def test_subscriber_create_get_find_and_fields_as_the_cli(api: Api) -> None:
    news = await _list(api)
    got = await api.client.post(
        "/subscribers",
        json={
            "email": "Ann@Example.com",
            "attributes": {"city": "Oslo"},
            "lists": [news["id"]],
            "status": "confirmed",
        },
    )
    assert got.status_code == 201
    made = got.json()
    stored = await api.store.get_subscriber("ann@example.com")
    assert set(made) == set(to_jsonable(stored))
    assert made["subscriptions"] == [
        {"list_id": news["id"], "list_name": "news", "status": "confirmed"}
    ]
    assert (await api.client.get(f"/subscribers/{made['id']}")).json()["email"] == made["email"]
    found = (await api.client.get("/subscribers", params={"email": "ANN@example.com"})).json()
    assert [s["id"] for s in found["items"]] == [made["id"]]
    none = (await api.client.get("/subscribers", params={"email": "bob@example.com"})).json()
    assert none == {"items": [], "next_after": None}
    refused(await api.client.get("/subscribers/12345"), 404)
    everybody = (await api.client.get("/subscribers")).json()  # no email: the query, unfiltered
    assert [s["id"] for s in everybody["items"]] == [made["id"]]


async def test_upsert_updates_what_is_given(api: Api) -> None:
    news, more = await _list(api), await _list(api, "more")
    await api.client.post(
        "/subscribers", json={"email": "ann@example.com", "name": "Ann", "lists": [news["id"]]}
    )
    got = await api.client.post(
        "/subscribers",
        json={
            "email": "ann@example.com",
            "attributes": {"plan": "pro"},
            "lists": [more["id"]],
            "upsert": True,
        },
    )
    assert got.status_code == 200
    body = got.json()
    assert (body["name"], body["attributes"]) == ("Ann", {"plan": "pro"})
    assert [s["list_name"] for s in body["subscriptions"]] == ["news", "more"]


async def test_bad_subscribers_change_nothing(api: Api) -> None:
    news = await _list(api)
    refused(await api.client.post("/subscribers", json={"email": "not-an-address"}), 422)
    refused(
        await api.client.post("/subscribers", json={"email": "a@example.com", "lists": [99]}), 404
    )
    refused(
        await api.client.post(
            "/subscribers", json={"email": "a@example.com", "status": "unsubscribed"}
        ),
        422,
        "body.status",
    )
    refused(
        await api.client.post(
            "/subscribers", json={"email": "a@example.com", "attributes": {"x": "y" * 70000}}
        ),
        413,
    )
    refused(
        await api.client.post(
            "/subscribers", json={"email": "a@example.com", "lists": [news["id"], 0]}
        ),
        422,
    )
    with pytest.raises(Exception, match="no subscriber"):
        await api.store.get_subscriber("a@example.com")


async def test_subscribe_unsubscribe_and_blocklist(api: Api) -> None:
    news, more = await _list(api), await _list(api, "more")
    sid = (await api.client.post("/subscribers", json={"email": "ann@example.com"})).json()["id"]
    got = await api.client.post(
        f"/subscribers/{sid}/lists", json={"lists": [news["id"], more["id"]], "status": "confirmed"}
    )
    assert [s["status"] for s in got.json()["subscriptions"]] == ["confirmed", "confirmed"]
    gone = await api.client.request(
        "DELETE", f"/subscribers/{sid}/lists", json={"lists": [more["id"]]}
    )
    assert gone.json() == {"changed": 1}
    after = (await api.client.get(f"/subscribers/{sid}")).json()["subscriptions"]
    assert [s["status"] for s in after] == ["confirmed", "unsubscribed"]
    # a list the subscriber is not on: refused, nothing changes
    other = await _list(api, "other")
    refused(
        await api.client.request(
            "DELETE", f"/subscribers/{sid}/lists", json={"lists": [news["id"], other["id"]]}
        ),
        422,
    )
    assert (await api.store.get_subscriber_by_id(sid)).subscriptions[0].status == "confirmed"
    refused(await api.client.post(f"/subscribers/{sid}/lists", json={"lists": [999]}), 404)
    blocked = await api.client.post(f"/subscribers/{sid}/blocklist")
    assert blocked.json()["status"] == "blocklisted"
    assert {s["status"] for s in blocked.json()["subscriptions"]} == {"unsubscribed"}
    refused(await api.client.post(f"/subscribers/{sid}/lists", json={"lists": [news["id"]]}), 422)
    everything = await api.client.request("DELETE", f"/subscribers/{sid}/lists")
    assert everything.json() == {"changed": 0}


# -- templates --------------------------------------------------------------------------------
async def test_templates(api: Api) -> None:
    got = await api.client.post(
        "/templates", json={"name": "base", "body": "<div>{{ content }}</div>"}
    )
    assert got.status_code == 201
    assert set(got.json()) == {"id", "name", "body", "created_at", "updated_at"}
    refused(await api.client.post("/templates", json={"name": "bad", "body": "no content"}), 422)
    refused(await api.client.post("/templates", json={"name": "bad2", "body": "{% if %}"}), 422)
    refused(
        await api.client.post("/templates", json={"name": "base", "body": "{{ content }}"}), 409
    )
    listed = (await api.client.get("/templates")).json()
    assert [t["name"] for t in listed["items"]] == ["base"]


# -- campaigns --------------------------------------------------------------------------------
async def test_campaign_create_show_and_fields_as_the_cli(api: Api) -> None:
    from campaignd.campaigns.lifecycle import summarize

    news = await _list(api)
    made = await _campaign(api, news["id"], tags=["t1"], headers=[{"name": "X-Tag", "value": "v"}])
    assert (made["status"], made["list_names"], made["tags"]) == ("draft", ["news"], ["t1"])
    stored = await api.store.get_campaign(made["id"])
    cli = to_jsonable(summarize(stored, await api.store.counts(stored.id), {news["id"]: "news"}))
    assert made == cli
    assert (await api.client.get(f"/campaigns/{made['id']}")).json() == cli
    page = (await api.client.get("/campaigns")).json()
    assert [c["id"] for c in page["items"]] == [made["id"]]


async def test_bad_campaigns_change_nothing(api: Api) -> None:
    news = await _list(api)
    base = {"name": "c", "subject": "s", "lists": [news["id"]], "body": "b"}
    refused(await api.client.post("/campaigns", json={**base, "lists": [77]}), 404)
    refused(await api.client.post("/campaigns", json={**base, "lists": []}), 422, "body.lists")
    refused(await api.client.post("/campaigns", json={**base, "messenger": "nope"}), 422)
    refused(await api.client.post("/campaigns", json={**base, "template": "nope"}), 404)
    refused(await api.client.post("/campaigns", json={**base, "body": "{{ broken"}), 422)
    refused(
        await api.client.post(
            "/campaigns", json={**base, "headers": [{"name": "X-A", "value": "v\r\nBcc: x@y"}]}
        ),
        422,
    )
    refused(
        await api.client.post("/campaigns", json={**base, "send_at": "2026-12-01T09:00:00"}), 422
    )
    assert await api.store.campaigns() == []


async def test_campaign_actions_and_refused_transitions(api: Api) -> None:
    news = await _list(api)
    cid = (await _campaign(api, news["id"]))["id"]
    refused(await api.client.post(f"/campaigns/{cid}/pause"), 409)
    refused(await api.client.post(f"/campaigns/{cid}/schedule"), 409)  # no send_at
    later = {"send_at": "2030-01-01T09:00:00+01:00"}
    empty = await api.client.post(f"/campaigns/{cid}/schedule", json=later)
    refused(empty, 422)  # nobody eligible on its lists yet
    assert "0 eligible subscribers" in empty.json()["detail"]
    await api.store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), [news["id"]], SubscriptionStatus.CONFIRMED
    )
    sched = await api.client.post(
        f"/campaigns/{cid}/schedule", json={"send_at": "2030-01-01T09:00:00+01:00"}
    )
    assert sched.json()["status"] == "scheduled"
    assert sched.json()["send_at"].startswith("2030-01-01T08:00:00")
    assert (await api.client.post(f"/campaigns/{cid}/unschedule")).json()["status"] == "draft"
    assert (await api.client.post(f"/campaigns/{cid}/start")).json()["status"] == "running"
    assert (await api.client.post(f"/campaigns/{cid}/pause")).json()["status"] == "paused"
    assert (await api.client.post(f"/campaigns/{cid}/resume")).json()["status"] == "running"
    assert (await api.client.post(f"/campaigns/{cid}/cancel")).json()["status"] == "cancelled"
    refused(await api.client.post(f"/campaigns/{cid}/start"), 409)
    refused(await api.client.post(f"/campaigns/{cid}/retry-failed"), 409)
    refused(await api.client.post("/campaigns/999/start"), 404)
    assert (await api.store.get_campaign(cid)).status is CampaignStatus.CANCELLED


async def test_counts_failures_and_retry_failed(api: Api) -> None:
    news = await _list(api)
    for who in ("ann", "bob"):
        await api.client.post(
            "/subscribers", json={"email": f"{who}@example.com", "lists": [news["id"]]}
        )
    cid = (await _campaign(api, news["id"]))["id"]
    await api.client.post(f"/campaigns/{cid}/start")
    await api.store.populate_ledger(cid, utcnow())
    claimed = await api.store.claim_batch(cid, "me", 10, utcnow())
    await api.store.record_deliveries(
        [
            DeliveryRecord(
                claimed[0].ledger_id, DeliveryStatus.SENT, 1, 250, None, "ok", "s", "m1"
            ),
            DeliveryRecord(
                claimed[1].ledger_id,
                DeliveryStatus.FAILED,
                1,
                550,
                "5.1.1",
                "no such user",
                "s",
                "m2",
            ),
        ],
        utcnow(),
    )
    shown = (await api.client.get(f"/campaigns/{cid}")).json()
    assert (shown["to_send"], shown["sent"], shown["failed"]) == (2, 1, 1)
    failures = (await api.client.get(f"/campaigns/{cid}/failures")).json()
    assert [(f["email"], f["code"], f["status"]) for f in failures] == [
        ("bob@example.com", 550, "failed")
    ]
    assert (await api.client.post(f"/campaigns/{cid}/retry-failed")).json() == {"queued": 1}
    assert (await api.client.get(f"/campaigns/{cid}")).json()["pending"] == 1
    refused(await api.client.get("/campaigns/999/failures"), 404)


async def test_test_send_and_preview(api: Api) -> None:
    news = await _list(api)
    await api.client.post(
        "/subscribers",
        json={"email": "ann@example.com", "name": "Ann", "attributes": {"city": "Oslo"}},
    )
    cid = (await _campaign(api, news["id"]))["id"]
    got = await api.client.post(
        f"/campaigns/{cid}/test", json={"to": ["ann@example.com", "new@example.com"]}
    )
    assert got.status_code == 200, got.text
    assert [(r["email"], r["outcome"]) for r in got.json()] == [
        ("ann@example.com", "sent"),
        ("new@example.com", "sent"),
    ]
    assert b"Hello Oslo" in api.mail.sent[0].message
    assert (await api.store.counts(cid)).to_send == 0
    refused(await api.client.post(f"/campaigns/{cid}/test", json={"to": ["nope"]}), 422)
    refused(await api.client.post(f"/campaigns/{cid}/test", json={"to": []}), 422, "body.to")
    shown = (
        await api.client.get(f"/campaigns/{cid}/preview", params={"subscriber": "ann@example.com"})
    ).json()
    assert shown["note"] == "data of subscriber ann@example.com"
    assert "Hello Oslo" in shown["message"]
    sample = (await api.client.get(f"/campaigns/{cid}/preview")).json()
    assert sample["note"].startswith("sample data") and "[city]" in sample["message"]


async def test_read_only_token_can_read_every_get(api: Api) -> None:
    news = await _list(api)
    cid = (await _campaign(api, news["id"]))["id"]
    for path in (
        "/lists",
        f"/lists/{news['id']}",
        "/templates",
        "/campaigns",
        f"/campaigns/{cid}",
        f"/campaigns/{cid}/failures",
        f"/campaigns/{cid}/preview",
        "/messengers",
    ):
        assert (await api.client.get(path, headers=api.auth(api.reader))).status_code == 200, path
    for path in (f"/campaigns/{cid}/start", f"/campaigns/{cid}/retry-failed", "/templates"):
        got = await api.client.post(path, json={}, headers=api.auth(api.reader))
        refused(got, 403)
    assert (await api.store.get_campaign(cid)).status is CampaignStatus.DRAFT


async def test_messengers_show_no_secrets(api: Api) -> None:
    got = (await api.client.get("/messengers")).json()
    assert got == [
        {
            "messenger": "email",
            "servers": [{"label": "127.0.0.1:2525", "host": "127.0.0.1", "port": 2525}],
        }
    ]


async def test_unknown_path_and_method_are_problems(api: Api) -> None:
    refused(await api.client.get("/nothing"), 404)
    refused(await api.client.delete("/lists"), 405)


async def test_concurrent_retries_with_one_key_create_once(api: Api) -> None:
    import asyncio

    key = {"Idempotency-Key": "burst"}
    answers = await asyncio.gather(
        *(api.client.post("/lists", json={"name": "news"}, headers=key) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 4
    assert len(await api.store.lists()) == 1
