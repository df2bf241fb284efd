"""Subscriber query, update, unblocklist, delete, wipe and export through the API."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.test_api_endpoints import _list, refused


async def _sub(api: Api, email: str, **extra: Any) -> dict[str, Any]:
    got = await api.client.post("/subscribers", json={"email": email, **extra})
    assert got.status_code == 201, got.text
    return dict(got.json())


async def test_query_pages_with_the_filter_language(api: Api) -> None:
    news = await _list(api)
    for n in range(3):
        await _sub(api, f"p{n}@example.com", attributes={"city": "Oslo"}, lists=[news["id"]])
    await _sub(api, "bergen@example.com", attributes={"city": "Bergen"})
    first = await api.client.get(
        "/subscribers",
        params={"query": "attributes.city = 'Oslo'", "limit": 2},
        headers=api.auth(api.reader),
    )
    assert first.status_code == 200, first.text
    assert [s["email"] for s in first.json()["items"]] == ["p0@example.com", "p1@example.com"]
    after = first.json()["next_after"]
    rest = await api.client.get(
        "/subscribers", params={"query": "attributes.city = 'Oslo'", "after": after}
    )
    assert [s["email"] for s in rest.json()["items"]] == ["p2@example.com"]
    assert rest.json()["next_after"] is None
    everybody = await api.client.get("/subscribers")
    assert len(everybody.json()["items"]) == 4
    one = await api.client.get("/subscribers", params={"email": "P1@example.com"})
    assert [s["email"] for s in one.json()["items"]] == ["p1@example.com"]
    refused(await api.client.get("/subscribers", params={"query": "nosuch = 1"}), 422)
    refused(await api.client.get("/subscribers", params={"query": "list = 'nope'"}), 404)
    refused(await api.client.get("/subscribers", params={"limit": 0}), 422, "query.limit")
    refused(await api.client.get("/subscribers", params={"email": "a@b.c", "query": "x"}), 422)


async def test_update_and_refusals_change_nothing(api: Api) -> None:
    ann = await _sub(api, "ann@example.com", name="Ann", attributes={"city": "Oslo"})
    await _sub(api, "bob@example.com")
    one = f"/subscribers/{ann['id']}"
    got = await api.client.patch(one, json={"name": "Anna", "merge_attributes": {"age": 3}})
    assert got.status_code == 200, got.text
    assert got.json()["name"] == "Anna"
    assert got.json()["attributes"] == {"city": "Oslo", "age": 3}
    refused(await api.client.patch(one, json={}), 422)
    refused(await api.client.patch(one, json={"email": "BOB@example.com"}), 409)
    refused(await api.client.patch(one, json={"email": "not an address"}), 422)
    refused(await api.client.patch(one, json={"status": "gone"}), 422, "body.status")
    refused(await api.client.patch(one, json={"attributes": {}, "merge_attributes": {"a": 1}}), 422)
    refused(await api.client.patch("/subscribers/999", json={"name": "x"}), 404)
    refused(await api.client.patch(one, json={"name": "x"}, headers=api.auth(api.reader)), 403)
    found = await api.store.get_subscriber("ann@example.com")
    assert (found.name, found.attributes) == ("Anna", {"city": "Oslo", "age": 3})


async def test_unblocklist(api: Api) -> None:
    ann = await _sub(api, "ann@example.com")
    one = f"/subscribers/{ann['id']}"
    refused(await api.client.post(one + "/unblocklist"), 422)  # not blocklisted
    assert (await api.client.post(one + "/blocklist")).json()["status"] == "blocklisted"
    refused(await api.client.post(one + "/unblocklist", headers=api.auth(api.reader)), 403)
    got = await api.client.post(one + "/unblocklist")
    assert got.status_code == 200 and got.json()["status"] == "enabled"


async def test_delete_by_ids_all_or_none(api: Api) -> None:
    ann = await _sub(api, "ann@example.com")
    bob = await _sub(api, "bob@example.com")
    refused(await api.client.request("DELETE", "/subscribers", json={"ids": [ann["id"], 999]}), 404)
    refused(await api.client.request("DELETE", "/subscribers", json={"ids": []}), 422)
    refused(
        await api.client.request(
            "DELETE", "/subscribers", json={"ids": [ann["id"]]}, headers=api.auth(api.reader)
        ),
        403,
    )
    assert len((await api.client.get("/subscribers")).json()["items"]) == 2
    got = await api.client.request("DELETE", "/subscribers", json={"ids": [ann["id"], bob["id"]]})
    assert got.status_code == 200 and got.json() == {"changed": 2}
    assert (await api.client.get("/subscribers")).json()["items"] == []


async def test_export_and_wipe(api: Api) -> None:
    ann = await _sub(api, "ann@example.com", name="Ann")
    one = f"/subscribers/{ann['id']}"
    exported = await api.client.get(one + "/export", headers=api.auth(api.reader))
    assert exported.status_code == 200, exported.text
    assert "ann@example.com" in exported.text
    refused(await api.client.get("/subscribers/999/export"), 404)
    refused(await api.client.post(one + "/wipe", headers=api.auth(api.reader)), 403)
    refused(await api.client.post("/subscribers/999/wipe"), 404)
    wiped = await api.client.post(one + "/wipe")
    assert wiped.status_code == 200 and wiped.json() == {
        "email": "ann@example.com",
        "ledger_rows": 0,
    }
    refused(await api.client.get(one), 404)
