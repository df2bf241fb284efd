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


async def test_update_changes_what_is_given_and_checks_as_create(api: Api) -> None:
    news = await _list(api)
    other = await _list(api, "other")
    cid = (await _campaign(api, news["id"]))["id"]
    got = await api.client.patch(
        f"/campaigns/{cid}",
        json={
            "subject": "New subject",
            "lists": [other["id"]],
            "segment": "attributes.city = 'Oslo'",
        },
    )
    assert got.status_code == 200, got.text
    assert got.json()["subject"] == "New subject" and got.json()["name"] == "hello"
    stored = await api.store.get_campaign(cid)
    assert list(stored.list_ids) == [other["id"]]
    assert stored.segment == "attributes.city = 'Oslo'"
    cleared = await api.client.patch(f"/campaigns/{cid}", json={"segment": ""})
    assert cleared.status_code == 200 and (await api.store.get_campaign(cid)).segment is None


async def test_bad_campaign_updates_change_nothing(api: Api) -> None:
    news = await _list(api)
    cid = (await _campaign(api, news["id"]))["id"]
    refused(await api.client.patch(f"/campaigns/{cid}", json={}), 422)
    refused(await api.client.patch(f"/campaigns/{cid}", json={"lists": [999]}), 404)
    refused(await api.client.patch(f"/campaigns/{cid}", json={"segment": "nosuch = 1"}), 422)
    refused(await api.client.patch(f"/campaigns/{cid}", json={"body": "{% if %}"}), 422)
    refused(await api.client.patch(f"/campaigns/{cid}", json={"template": "nope"}), 404)
    refused(await api.client.patch(f"/campaigns/{cid}", json={"subject": 3}), 422, "body.subject")
    refused(
        await api.client.patch(f"/campaigns/{cid}", json={"send_at": "2001-01-01T00:00:00Z"}), 422
    )
    refused(await api.client.patch("/campaigns/999", json={"name": "x"}), 404)
    refused(
        await api.client.patch(
            f"/campaigns/{cid}", json={"name": "x"}, headers=api.auth(api.reader)
        ),
        403,
    )
    stored = await api.store.get_campaign(cid)
    assert (stored.name, stored.subject) == ("hello", "Hi {{ subscriber.name }}")
    await api.store.add_subscriber(
        NewSubscriber("ann@example.com", "Ann"), [news["id"]], SubscriptionStatus.CONFIRMED
    )
    assert (await api.client.post(f"/campaigns/{cid}/start")).status_code == 200
    refused(await api.client.patch(f"/campaigns/{cid}", json={"name": "late"}), 409)
    assert (await api.store.get_campaign(cid)).name == "hello"
