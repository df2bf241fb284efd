"""The Store contract for managing lists, templates and campaigns: update, delete, in-use checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from campaignd.domain import (
    CampaignStatus,
    ContentType,
    NewCampaign,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import Conflict, NotFound, TransitionRefused
from campaignd.policy import DELETABLE, EDITABLE, LIST_USERS, TEMPLATE_USERS
from tests.integration.store_fixtures import (
    campaign,
    double,
    single,
    store,
    store_url,
    subscriber,
)

__all__ = ["store", "store_url"]  # fixtures

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
S = CampaignStatus


async def move(store: Any, campaign_id: int, *path: CampaignStatus) -> None:
    current = (await store.get_campaign(campaign_id)).status
    for to in path:
        await store.transition(campaign_id, frozenset({current}), to, now=T0, send_at=T0)
        current = to


# -- lists -----------------------------------------------------------------------------------


async def test_list_names_are_unique_ignoring_case(store: Any) -> None:
    news = await store.create_list("news", OptIn.SINGLE, "")
    with pytest.raises(Conflict, match="'news' already exists"):
        await store.create_list("News", OptIn.SINGLE, "")
    with pytest.raises(Conflict, match="ignore case"):
        await store.create_list(" NEWS", OptIn.DOUBLE, "")
    other = await store.create_list("other", OptIn.SINGLE, "")
    with pytest.raises(Conflict):
        await store.update_list(other.id, name="NeWs")
    assert [m.name for m in await store.lists()] == ["news", "other"]
    renamed = await store.update_list(news.id, name="News")  # its own name in another case
    assert renamed.name == "News"


async def test_update_list_changes_only_what_is_given(store: Any) -> None:
    news = await store.create_list("news", OptIn.SINGLE, "The news")
    await subscriber(store, "a@example.com", (news.id,))
    got = await store.update_list(news.id, optin=OptIn.DOUBLE)
    assert (got.name, got.optin, got.description, got.subscriber_count) == (
        "news",
        OptIn.DOUBLE,
        "The news",
        1,
    )
    got = await store.update_list(news.id, name="weekly", description="")
    assert (got.name, got.optin, got.description) == ("weekly", OptIn.DOUBLE, "")
    assert await store.list_names() == {news.id: "weekly"}
    assert (await store.get_subscriber("a@example.com")).subscriptions[0].list_name == "weekly"
    with pytest.raises(NotFound):
        await store.update_list(999, name="x")


async def test_delete_list_refused_while_campaigns_use_it(store: Any) -> None:
    news = await single(store, "news")
    keep = await single(store, "keep")
    await subscriber(store, "a@example.com", (news, keep))
    draft = await campaign(store, "news", name="draft one")
    running = await campaign(store, "news", "keep", name="live")
    await move(store, running, S.RUNNING)
    with pytest.raises(Conflict) as refused:
        await store.delete_list(news, LIST_USERS)
    message = str(refused.value)
    assert f"{draft} 'draft one' (draft)" in message
    assert f"{running} 'live' (running)" in message
    assert [m.name for m in await store.lists()] == ["news", "keep"]  # nothing changed
    assert len((await store.get_subscriber("a@example.com")).subscriptions) == 2

    await move(store, draft, S.CANCELLED)
    await move(store, running, S.CANCELLED)
    deleted = await store.delete_list(news, LIST_USERS)
    assert (deleted.name, deleted.subscriber_count) == ("news", 1)
    assert [m.name for m in await store.lists()] == ["keep"]
    subs = (await store.get_subscriber("a@example.com")).subscriptions
    assert [s.list_name for s in subs] == ["keep"]
    assert (await store.get_campaign(running)).list_ids == (keep,)
    assert (await store.get_campaign(draft)).list_ids == ()
    with pytest.raises(NotFound):
        await store.delete_list(news, LIST_USERS)
    again = await store.create_list("news", OptIn.SINGLE, "")  # the name is free again
    assert again.subscriber_count == 0


# -- templates -------------------------------------------------------------------------------


async def test_update_and_delete_template(store: Any) -> None:
    added = await store.add_template("main", "<p>{{ content }}</p>")
    assert added.updated_at == added.created_at
    updated = await store.update_template(added.id, "<div>{{ content }}</div>")
    assert (updated.id, updated.name, updated.body) == (
        added.id,
        "main",
        "<div>{{ content }}</div>",
    )
    assert updated.updated_at is not None and updated.updated_at >= added.created_at
    assert (await store.get_template("main")).body == "<div>{{ content }}</div>"
    with pytest.raises(NotFound):
        await store.update_template(999, "x")

    await single(store)
    new = NewCampaign(
        name="c", subject="s", from_email="me@example.com", body="b", lists=("single",)
    )
    used = await store.create_campaign(new, added.id)
    await move(store, used.id, S.CANCELLED)
    with pytest.raises(Conflict, match=f"template 'main' is used by campaign.*{used.id} 'c'"):
        await store.delete_template(added.id, TEMPLATE_USERS)
    assert (await store.get_template("main")).id == added.id
    # A campaign in a status not refused loses its template.
    gone = await store.delete_template(added.id, frozenset({S.DRAFT}))
    assert gone.name == "main"
    assert (await store.get_campaign(used.id)).template_id is None
    assert await store.templates() == []
    with pytest.raises(NotFound):
        await store.delete_template(added.id, TEMPLATE_USERS)


# -- campaigns -------------------------------------------------------------------------------


async def test_update_campaign_replaces_content_and_lists(store: Any) -> None:
    one, two = await single(store, "one"), await double(store, "two")
    cid = await campaign(store, "one")
    layout = await store.add_template("main", "{{ content }}")
    before = await store.get_campaign(cid)
    new = NewCampaign(
        name="renamed",
        subject="Hello",
        from_email="other@example.com",
        body="<p>new</p>",
        lists=("two", "one"),
        alt_body="alt",
        content_type=ContentType.MARKDOWN,
        messenger="postmark",
        headers=(("X-A", "1"),),
        tags=("t",),
        send_at=T0,
    )
    got = await store.update_campaign(cid, new, layout.id, EDITABLE)
    assert (got.id, got.uuid, got.status, got.created_at) == (
        cid,
        before.uuid,
        S.DRAFT,
        before.created_at,
    )
    assert got.list_ids == tuple(sorted((one, two)))
    assert (got.name, got.subject, got.from_email, got.body, got.alt_body) == (
        "renamed",
        "Hello",
        "other@example.com",
        "<p>new</p>",
        "alt",
    )
    assert (got.content_type, got.template_id, got.messenger, got.headers, got.tags) == (
        ContentType.MARKDOWN,
        layout.id,
        "postmark",
        (("X-A", "1"),),
        ("t",),
    )
    assert got.send_at == T0
    assert await store.get_campaign(cid) == got
    cleared = await store.update_campaign(
        cid, dataclasses.replace(new, lists=("one",), alt_body=None, send_at=None), None, EDITABLE
    )
    assert (cleared.list_ids, cleared.alt_body, cleared.send_at, cleared.template_id) == (
        (one,),
        None,
        None,
        None,
    )


async def test_update_campaign_refused_in_other_states_or_with_unknown_lists(store: Any) -> None:
    await single(store, "one")
    cid = await campaign(store, "one")
    new = NewCampaign(name="x", subject="x", from_email="x@example.com", body="x", lists=("one",))
    with pytest.raises(NotFound, match="'nope'"):
        await store.update_campaign(cid, dataclasses.replace(new, lists=("nope",)), None, EDITABLE)
    with pytest.raises(NotFound):
        await store.update_campaign(cid, new, 999, EDITABLE)
    await move(store, cid, S.RUNNING)
    with pytest.raises(TransitionRefused, match=f"cannot update campaign {cid}: it is running"):
        await store.update_campaign(cid, new, None, EDITABLE)
    assert (await store.get_campaign(cid)).name == "c"  # nothing changed
    await move(store, cid, S.PAUSED)
    assert (await store.update_campaign(cid, new, None, EDITABLE)).status is S.PAUSED
    with pytest.raises(NotFound):
        await store.update_campaign(999, new, None, EDITABLE)


async def test_delete_campaign_removes_its_ledger_and_keeps_bounces(store: Any) -> None:
    lid = await single(store, "one")
    a = await subscriber(store, "a@example.com", (lid,))
    await subscriber(store, "b@example.com", (lid,))
    cid = await campaign(store, "one")
    other = await campaign(store, "one", name="other")
    await move(store, cid, S.RUNNING)
    await move(store, other, S.RUNNING)
    assert await store.populate_ledger(cid, T0) == 2
    assert await store.populate_ledger(other, T0) == 2
    await store.add_bounce(a, cid, "hard", "smtp", "gone", T0)
    with pytest.raises(TransitionRefused, match=r"cannot delete campaign \d+: it is running"):
        await store.delete_campaign(cid, DELETABLE)
    assert (await store.counts(cid)).to_send == 2
    await move(store, cid, S.CANCELLED)
    deleted = await store.delete_campaign(cid, DELETABLE)
    assert (deleted.id, deleted.status) == (cid, S.CANCELLED)
    with pytest.raises(NotFound):
        await store.get_campaign(cid)
    assert [c.id for c in await store.campaigns()] == [other]
    assert (await store.counts(other)).to_send == 2  # other campaigns' ledgers untouched
    # The bounce still counts for the subscriber.
    assert await store.add_bounce(a, None, "hard", "smtp", "gone again", T0) == 2
    with pytest.raises(NotFound):
        await store.delete_campaign(cid, DELETABLE)
    draft = await campaign(store, "one", name="draft")
    await store.delete_campaign(draft, DELETABLE)
    assert [c.id for c in await store.campaigns()] == [other]


async def test_eligible_count_follows_the_ledger_rule(store: Any) -> None:
    one, two = await single(store, "one"), await double(store, "two")
    await subscriber(store, "a@example.com", (one, two))  # on both: counted once
    await subscriber(store, "b@example.com", (two,), SubscriptionStatus.UNCONFIRMED)
    await subscriber(store, "c@example.com", (one,), SubscriptionStatus.UNCONFIRMED)
    await subscriber(store, "d@example.com", (one,))
    await store.set_subscriber_status("d@example.com", SubscriberStatus.BLOCKLISTED)
    e = await subscriber(store, "e@example.com", (one,))
    await store.unsubscribe(e, [one])
    cid = await campaign(store, "one", "two")
    assert await store.eligible_count(cid) == 2  # a, c
    assert await store.eligible_count(await campaign(store, "two")) == 1  # a
    await move(store, cid, S.RUNNING)
    assert await store.populate_ledger(cid, T0) == 2
    await single(store, "empty")
    assert await store.eligible_count(await campaign(store, "empty")) == 0
    with pytest.raises(NotFound):
        await store.eligible_count(999)
    rows = await store.claim_batch(cid, "me", 10, T0)
    assert {r.email for r in rows} == {"a@example.com", "c@example.com"}


async def test_list_names_are_data_never_sql(store: Any) -> None:
    hostile = "x'); DROP TABLE lists; --"
    made = await store.create_list(hostile, OptIn.SINGLE, "")
    with pytest.raises(Conflict):
        await store.create_list(hostile.upper(), OptIn.SINGLE, "")
    umlaut = await store.create_list("Ärzte", OptIn.SINGLE, "")
    with pytest.raises(Conflict):  # case-insensitive beyond ASCII, on every store
        await store.create_list("ärzte", OptIn.SINGLE, "")
    renamed = await store.update_list(made.id, name='"; DELETE FROM subscribers; --')
    assert renamed.name == '"; DELETE FROM subscribers; --'
    assert await store.list_names() == {made.id: renamed.name, umlaut.id: "Ärzte"}
    await store.delete_list(made.id, LIST_USERS)
    assert [m.name for m in await store.lists()] == ["Ärzte"]
