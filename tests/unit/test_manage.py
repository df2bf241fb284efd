"""Managing campaigns, lists and templates through the use cases, on the in-memory twin."""

from __future__ import annotations

import datetime as dt

import pytest

from campaignd.campaigns import lists, templates
from campaignd.campaigns.lifecycle import apply_action, create_campaign
from campaignd.campaigns.manage import (
    CampaignChanges,
    clone_campaign,
    delete_campaign,
    update_campaign,
)
from campaignd.config import AppSettings
from campaignd.domain import (
    CampaignStatus,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriptionStatus,
)
from campaignd.errors import (
    Conflict,
    HeaderInjection,
    InvalidInput,
    NotFound,
    TemplateError,
    TransitionRefused,
    UnknownMessenger,
)
from campaignd.store.memory import MemoryStore

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(days=1)
APP = AppSettings()
MESSENGERS = ("email", "postmark")
S = CampaignStatus


async def setup(subscribers: int = 1) -> tuple[MemoryStore, int]:
    store = MemoryStore()
    news = await store.create_list("news", OptIn.SINGLE, "")
    await store.create_list("other", OptIn.DOUBLE, "")
    for i in range(subscribers):
        await store.add_subscriber(
            NewSubscriber(f"u{i}@example.com", f"U{i}"), [news.id], SubscriptionStatus.UNCONFIRMED
        )
    new = NewCampaign(
        name="c",
        subject="Hi {{ subscriber.name }}",
        from_email="me@example.com",
        body="<p>b</p>",
        lists=("news",),
    )
    created = await create_campaign(store, new, APP, MESSENGERS, NOW)
    return store, created.id


async def test_update_is_checked_like_create_and_changes_nothing_when_refused() -> None:
    store, cid = await setup()
    before = await store.get_campaign(cid)
    for changes, error in (
        (CampaignChanges(body="{% for x in %}"), TemplateError),
        (CampaignChanges(subject=" "), InvalidInput),
        (CampaignChanges(lists=("nope",)), NotFound),
        (CampaignChanges(template="nope"), NotFound),
        (CampaignChanges(messenger="x"), UnknownMessenger),
        (CampaignChanges(headers=(("Bcc", "a@b.example"),)), HeaderInjection),
        (CampaignChanges(headers=(("X-A", "a\r\nBcc: x@y.example"),)), HeaderInjection),
        (CampaignChanges(from_email="not an address"), InvalidInput),
        (CampaignChanges(send_at=NOW - dt.timedelta(seconds=1)), InvalidInput),
        (CampaignChanges(), InvalidInput),
    ):
        with pytest.raises(error):
            await update_campaign(store, cid, changes, APP, MESSENGERS, NOW)
    assert await store.get_campaign(cid) == before


async def test_update_changes_what_is_given_and_clears_with_empty_values() -> None:
    store, cid = await setup()
    await templates.add_template(store, "main", "<main>{{ content }}</main>", APP)
    got = await update_campaign(
        store,
        cid,
        CampaignChanges(
            subject="New", lists=("news", "other"), template="main", alt_body="plain", send_at=LATER
        ),
        APP,
        MESSENGERS,
        NOW,
    )
    assert (got.subject, got.body, got.alt_body, got.send_at) == ("New", "<p>b</p>", "plain", LATER)
    assert len(got.list_ids) == 2 and got.template_id is not None
    got = await update_campaign(
        store, cid, CampaignChanges(template="", alt_body=""), APP, MESSENGERS, NOW
    )
    assert (got.template_id, got.alt_body, got.subject) == (None, None, "New")


async def test_update_by_status() -> None:
    store, cid = await setup()
    await apply_action(store, cid, "schedule", NOW, LATER)
    got = await update_campaign(store, cid, CampaignChanges(subject="s2"), APP, MESSENGERS, NOW)
    assert (got.status, got.subject, got.send_at) == (S.SCHEDULED, "s2", LATER)
    await apply_action(store, cid, "start", NOW)
    with pytest.raises(TransitionRefused, match="cannot update campaign 1: it is running"):
        await update_campaign(store, cid, CampaignChanges(subject="x"), APP, MESSENGERS, NOW)
    await apply_action(store, cid, "pause", NOW)
    got = await update_campaign(
        store, cid, CampaignChanges(body="<p>fixed</p>"), APP, MESSENGERS, NOW
    )
    assert (got.status, got.body) == (S.PAUSED, "<p>fixed</p>")
    await apply_action(store, cid, "cancel", NOW)
    with pytest.raises(TransitionRefused, match="it is cancelled"):
        await update_campaign(store, cid, CampaignChanges(subject="x"), APP, MESSENGERS, NOW)


async def test_clone_makes_a_draft_copy_and_delete_by_status() -> None:
    store, cid = await setup()
    await update_campaign(store, cid, CampaignChanges(send_at=LATER), APP, MESSENGERS, NOW)
    await apply_action(store, cid, "start", NOW)
    copy = await clone_campaign(store, cid, APP, MESSENGERS, NOW)
    original = await store.get_campaign(cid)
    assert (copy.status, copy.name, copy.subject, copy.list_ids, copy.send_at) == (
        S.DRAFT,
        "Copy of c",
        original.subject,
        original.list_ids,
        LATER,
    )
    assert copy.uuid != original.uuid
    late = await clone_campaign(store, cid, APP, MESSENGERS, LATER, name="again")
    assert (late.name, late.send_at) == ("again", None)  # a passed send time is not copied
    with pytest.raises(TransitionRefused, match="cannot delete campaign 1: it is running"):
        await delete_campaign(store, cid)
    await apply_action(store, cid, "cancel", NOW)
    assert (await delete_campaign(store, cid)).id == cid
    assert await delete_campaign(store, copy.id)  # a draft
    assert [c.name for c in await store.campaigns()] == ["again"]
    with pytest.raises(NotFound):
        await clone_campaign(store, cid, APP, MESSENGERS, NOW)


async def test_cancel_works_on_a_draft() -> None:
    store, cid = await setup()
    assert (await apply_action(store, cid, "cancel", NOW)).status is S.CANCELLED


async def test_start_and_schedule_refuse_an_empty_audience() -> None:
    store, cid = await setup(subscribers=0)
    for action, send_at in (("start", None), ("schedule", LATER)):
        with pytest.raises(InvalidInput, match=r"lists \(news\) have 0 eligible subscribers"):
            await apply_action(store, cid, action, NOW, send_at)
    assert (await store.get_campaign(cid)).status is S.DRAFT


async def test_a_send_time_passed_is_refused_unless_now() -> None:
    store, cid = await setup()
    past = NOW - dt.timedelta(minutes=1)
    new = NewCampaign(name="p", subject="s", from_email="", body="b", lists=("news",), send_at=past)
    with pytest.raises(InvalidInput, match="is in the past"):
        await create_campaign(store, new, APP, MESSENGERS, NOW)
    with pytest.raises(InvalidInput, match="schedule ID --now"):
        await apply_action(store, cid, "schedule", NOW, past)
    assert (await store.get_campaign(cid)).status is S.DRAFT
    started = await apply_action(store, cid, "schedule", NOW, past, at_once=True)
    assert started.status is S.RUNNING


async def test_lists_update_and_delete() -> None:
    store, cid = await setup()
    with pytest.raises(Conflict, match="ignore case"):
        await lists.create_list(store, "NEWS", OptIn.SINGLE, "")
    with pytest.raises(Conflict):
        await lists.update_list(store, "other", new_name="News ")
    with pytest.raises(InvalidInput, match="nothing to change"):
        await lists.update_list(store, "other")
    with pytest.raises(InvalidInput, match="empty"):
        await lists.update_list(store, "other", new_name="  ")
    got = await lists.update_list(store, "other", new_name="Weekly", optin=OptIn.SINGLE)
    assert (got.name, got.optin) == ("Weekly", OptIn.SINGLE)
    with pytest.raises(Conflict, match=r"list 'news' is used by campaign.*1 'c' \(draft\)"):
        await lists.delete_list(store, "news")
    await apply_action(store, cid, "cancel", NOW)
    assert (await lists.delete_list(store, "news")).name == "news"
    with pytest.raises(NotFound, match=r"no list named 'weekly' \(did you mean 'Weekly'\?\)"):
        await lists.delete_list(store, "weekly")
    with pytest.raises(NotFound):
        await lists.delete_list(store, "news")


async def test_templates_update_checked_and_rm_refused_while_used() -> None:
    store, cid = await setup()
    await templates.add_template(store, "main", "<main>{{ content }}</main>", APP)
    for body in ("<main>no content</main>", "{{ content }}{% if %}"):
        with pytest.raises(TemplateError):
            await templates.update_template(store, "main", body, APP)
    small = APP.model_copy(update={"template_max_output": 100})
    with pytest.raises(TemplateError, match="template_max_output"):
        await templates.update_template(store, "main", "{{ content }}" + "x" * 200, small)
    assert (await store.get_template("main")).body == "<main>{{ content }}</main>"
    updated = await templates.update_template(store, "main", "<div>{{ content }}</div>", APP)
    assert updated.body == "<div>{{ content }}</div>"
    await update_campaign(store, cid, CampaignChanges(template="main"), APP, MESSENGERS, NOW)
    with pytest.raises(Conflict, match="template 'main' is used by campaign"):
        await templates.delete_template(store, "main")
    await update_campaign(store, cid, CampaignChanges(template=""), APP, MESSENGERS, NOW)
    assert (await templates.delete_template(store, "main")).name == "main"
    with pytest.raises(NotFound):
        await templates.update_template(store, "main", "{{ content }}", APP)
