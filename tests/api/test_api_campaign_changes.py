"""Campaign statistics, clone and delete through the API, by the CLI's use cases."""

from __future__ import annotations

from campaignd.domain import CampaignStatus, NewSubscriber, SubscriptionStatus
from tests.api.conftest import Api
from tests.api.test_api_endpoints import _campaign, _list, refused


async def test_stats_of_a_draft_as_the_cli(api: Api) -> None:
    news = await _list(api)
    cid = (await _campaign(api, news["id"]))["id"]
    got = await api.client.get(f"/campaigns/{cid}/stats", headers=api.auth(api.reader))
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["id"], body["name"], body["status"]) == (cid, "hello", "draft")
    assert {"sent", "failed", "opens", "clicks", "open_rate", "links", "series"} <= set(body)
    assert body["sent"] == 0 and body["links"] == []
    refused(await api.client.get("/campaigns/999/stats"), 404)


async def test_clone_makes_a_draft_copy(api: Api) -> None:
    news = await _list(api)
    cid = (await _campaign(api, news["id"]))["id"]
    got = await api.client.post(f"/campaigns/{cid}/clone")
    assert got.status_code == 201, got.text
    assert got.json()["name"] == "Copy of hello" and got.json()["status"] == "draft"
    named = await api.client.post(f"/campaigns/{cid}/clone", json={"name": "again"})
    assert named.status_code == 201 and named.json()["name"] == "again"
    refused(await api.client.post(f"/campaigns/{cid}/clone", json={"name": 5}), 422, "body.name")
    refused(await api.client.post(f"/campaigns/{cid}/clone", json={"nme": "x"}), 422)
    refused(await api.client.post("/campaigns/999/clone"), 404)
    refused(await api.client.post(f"/campaigns/{cid}/clone", headers=api.auth(api.reader)), 403)
    assert len(await api.store.campaigns()) == 3


async def test_delete_a_draft_and_refuse_a_running_one(api: Api) -> None:
    news = await _list(api)
    draft = (await _campaign(api, news["id"]))["id"]
    running = (await _campaign(api, news["id"], name="live"))["id"]
    await api.store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), [news["id"]], SubscriptionStatus.CONFIRMED
    )
    assert (await api.client.post(f"/campaigns/{running}/start")).status_code == 200
    refused(await api.client.delete(f"/campaigns/{running}"), 409)
    refused(await api.client.delete(f"/campaigns/{draft}", headers=api.auth(api.reader)), 403)
    refused(await api.client.delete("/campaigns/999"), 404)
    assert len(await api.store.campaigns()) == 2
    got = await api.client.delete(f"/campaigns/{draft}")
    assert got.status_code == 200 and got.json()["id"] == draft
    assert [c.status for c in await api.store.campaigns()] == [CampaignStatus.RUNNING]
