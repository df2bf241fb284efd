"""Changing and deleting lists and templates through the API, by the CLI's use cases."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_api_endpoints import _campaign, _list, refused


async def test_list_update_changes_only_what_is_given(api: Api) -> None:
    news = await _list(api)
    got = await api.client.patch(
        f"/lists/{news['id']}", json={"optin": "double", "description": " weekly ", "public": True}
    )
    assert got.status_code == 200, got.text
    assert got.json() | {"optin": "double", "description": "weekly", "public": True} == got.json()
    assert got.json()["name"] == "news"
    renamed = await api.client.patch(f"/lists/{news['id']}", json={"name": "weekly"})
    assert renamed.json()["name"] == "weekly" and renamed.json()["optin"] == "double"
    assert [m.name for m in await api.store.lists()] == ["weekly"]


async def test_bad_list_updates_change_nothing(api: Api) -> None:
    news = await _list(api)
    await _list(api, "other")
    lid = news["id"]
    refused(await api.client.patch(f"/lists/{lid}", json={}), 422)
    refused(await api.client.patch(f"/lists/{lid}", json={"optin": "triple"}), 422, "body.optin")
    refused(await api.client.patch(f"/lists/{lid}", json={"public": "yes"}), 422, "body.public")
    refused(await api.client.patch(f"/lists/{lid}", json={"name": "a\nb"}), 422, "body.name")
    refused(await api.client.patch(f"/lists/{lid}", json={"name": "OTHER"}), 409)
    refused(await api.client.patch("/lists/999", json={"name": "x"}), 404)
    refused(
        await api.client.patch(f"/lists/{lid}", json={"name": "x"}, headers=api.auth(api.reader)),
        403,
    )
    found = await api.store.get_list("news")
    assert (found.optin.value, found.description) == ("single", "")


async def test_list_delete_refused_while_a_draft_uses_it(api: Api) -> None:
    news = await _list(api)
    spare = await _list(api, "spare")
    await _campaign(api, news["id"])
    refused(await api.client.delete(f"/lists/{news['id']}"), 409)
    refused(await api.client.delete(f"/lists/{spare['id']}", headers=api.auth(api.reader)), 403)
    refused(await api.client.delete("/lists/999"), 404)
    assert len(await api.store.lists()) == 2
    got = await api.client.delete(f"/lists/{spare['id']}")
    assert got.status_code == 200 and got.json()["name"] == "spare"
    assert [m.name for m in await api.store.lists()] == ["news"]


async def test_template_show_update_delete(api: Api) -> None:
    made = await api.client.post(
        "/templates", json={"name": "base", "body": "<b>{{ content }}</b>"}
    )
    tid = made.json()["id"]
    shown = await api.client.get(f"/templates/{tid}", headers=api.auth(api.reader))
    assert shown.status_code == 200 and shown.json()["body"] == "<b>{{ content }}</b>"
    refused(await api.client.get("/templates/999"), 404)
    got = await api.client.put(f"/templates/{tid}", json={"body": "<i>{{ content }}</i>"})
    assert got.status_code == 200 and got.json()["body"] == "<i>{{ content }}</i>"
    refused(await api.client.put(f"/templates/{tid}", json={"body": "no content"}), 422)
    refused(await api.client.put(f"/templates/{tid}", json={"body": "{% if %}"}), 422)
    refused(await api.client.put(f"/templates/{tid}", json={"name": "x"}), 422)
    refused(await api.client.put("/templates/999", json={"body": "{{ content }}"}), 404)
    refused(
        await api.client.put(
            f"/templates/{tid}", json={"body": "{{ content }}"}, headers=api.auth(api.reader)
        ),
        403,
    )
    refused(await api.client.delete(f"/templates/{tid}", headers=api.auth(api.reader)), 403)
    assert (await api.store.get_template("base")).body == "<i>{{ content }}</i>"
    deleted = await api.client.delete(f"/templates/{tid}")
    assert deleted.status_code == 200 and deleted.json()["name"] == "base"
    assert await api.store.templates() == []


async def test_template_delete_refused_while_a_campaign_uses_it(api: Api) -> None:
    made = await api.client.post("/templates", json={"name": "base", "body": "{{ content }}"})
    news = await _list(api)
    await _campaign(api, news["id"], template="base")
    refused(await api.client.delete(f"/templates/{made.json()['id']}"), 409)
    assert [t.name for t in await api.store.templates()] == ["base"]
