"""The Store contract, run on every store: MemoryStore, SqlStore on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from campaignd.domain import (
    CampaignStatus,
    ContentType,
    ImportCounts,
    ImportMode,
    ImportOptions,
    NewCampaign,
    NewSubscriber,
    OptIn,
    SubscriberStatus,
    SubscriptionStatus,
)
from campaignd.errors import Conflict, NotFound, TransitionRefused
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
CONFIRMED = SubscriptionStatus.CONFIRMED
UNCONFIRMED = SubscriptionStatus.UNCONFIRMED
DRAFT, RUNNING, PAUSED = CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED


def aware_utc(value: dt.datetime | None) -> bool:
    return value is not None and value.utcoffset() == dt.timedelta(0)


async def start(store: Any, campaign_id: int) -> None:
    await store.transition(campaign_id, frozenset({DRAFT}), RUNNING, now=T0)


# -- schema, lists ---------------------------------------------------------------------------


async def test_check_schema_accepts_a_migrated_database(store: Any) -> None:
    await store.check_schema()


async def test_lists_are_unique_by_name_and_count_subscribers_not_unsubscribed(
    store: Any,
) -> None:
    news = await store.create_list("news", OptIn.SINGLE, "The news")
    vip = await store.create_list("vip", OptIn.DOUBLE, "")
    with pytest.raises(Conflict):
        await store.create_list("news", OptIn.DOUBLE, "again")
    with pytest.raises(NotFound):
        await store.get_list("nope")
    a = await subscriber(store, "a@example.com", (news.id, vip.id))
    await subscriber(store, "b@example.com", (news.id,), UNCONFIRMED)
    await store.unsubscribe(a, [vip.id])

    found = await store.lists()
    assert [(m.name, m.optin, m.subscriber_count) for m in found] == [
        ("news", OptIn.SINGLE, 2),
        ("vip", OptIn.DOUBLE, 0),
    ]
    got = await store.get_list("news")
    assert (got.id, got.description, got.subscriber_count) == (news.id, "The news", 2)
    assert aware_utc(got.created_at)


# -- subscribers -----------------------------------------------------------------------------


async def test_subscribers_are_unique_case_insensitively(store: Any) -> None:
    lid = await single(store)
    added = await store.add_subscriber(
        NewSubscriber("Jane.Doe@example.com", "Jane", {"city": "Oslo", "n": [1, 2]}),
        [lid],
        UNCONFIRMED,
    )
    assert added.status is SubscriberStatus.ENABLED
    assert added.attributes == {"city": "Oslo", "n": [1, 2]}
    assert [(s.list_id, s.list_name, s.status) for s in added.subscriptions] == [
        (lid, "single", UNCONFIRMED)
    ]
    assert aware_utc(added.created_at)
    assert aware_utc(added.updated_at)
    with pytest.raises(Conflict):
        await store.add_subscriber(NewSubscriber("jane.doe@EXAMPLE.COM", "J"), [], CONFIRMED)
    got = await store.get_subscriber(" JANE.DOE@example.com ")
    assert (got.id, got.uuid, got.email) == (added.id, added.uuid, "Jane.Doe@example.com")
    with pytest.raises(NotFound):
        await store.get_subscriber("nobody@example.com")


async def test_adding_to_an_unknown_list_writes_nothing(store: Any) -> None:
    with pytest.raises(NotFound):
        await store.add_subscriber(NewSubscriber("a@example.com", "A"), [999], CONFIRMED)
    with pytest.raises(NotFound):
        await store.get_subscriber("a@example.com")


async def test_blocklisting_unsubscribes_from_every_list(store: Any) -> None:
    one, two = await single(store, "one"), await double(store, "two")
    await subscriber(store, "a@example.com", (one, two))
    got = await store.set_subscriber_status("A@example.com", SubscriberStatus.BLOCKLISTED)
    assert got.status is SubscriberStatus.BLOCKLISTED
    assert {s.status for s in got.subscriptions} == {SubscriptionStatus.UNSUBSCRIBED}
    # Enabling again does not resubscribe.
    got = await store.set_subscriber_status("a@example.com", SubscriberStatus.ENABLED)
    assert got.status is SubscriberStatus.ENABLED
    assert {s.status for s in got.subscriptions} == {SubscriptionStatus.UNSUBSCRIBED}
    with pytest.raises(NotFound):
        await store.set_subscriber_status("b@example.com", SubscriberStatus.DISABLED)


async def test_unsubscribe_from_some_or_all_lists_counts_changes(store: Any) -> None:
    one, two, three = [await single(store, n) for n in ("one", "two", "three")]
    sid = await subscriber(store, "a@example.com", (one, two, three))
    assert await store.unsubscribe(sid, [one]) == 1
    assert await store.unsubscribe(sid, [one]) == 0
    assert await store.unsubscribe(sid, None) == 2
    assert await store.unsubscribe(sid, None) == 0
    got = await store.get_subscriber("a@example.com")
    assert {s.status for s in got.subscriptions} == {SubscriptionStatus.UNSUBSCRIBED}


# -- import ----------------------------------------------------------------------------------


def rows(*emails: str, name: str = "N", attrs: dict[str, Any] | None = None) -> list[Any]:
    return [NewSubscriber(e, name, attrs or {}) for e in emails]


async def snapshot(store: Any, *emails: str) -> list[Any]:
    out = []
    for e in emails:
        s = await store.get_subscriber(e)
        out.append((s.email, s.name, dict(s.attributes), s.status, s.subscriptions, s.updated_at))
    return out


async def test_import_inserts_then_is_idempotent(store: Any) -> None:
    lid = await single(store)
    opts = ImportOptions(list_ids=(lid,), status=CONFIRMED)
    batch = rows("a@example.com", "b@example.com", "c@example.com", attrs={"k": "v"})
    assert await store.import_batch(batch, opts) == ImportCounts(inserted=3)
    before = await snapshot(store, "a@example.com", "b@example.com", "c@example.com")
    assert await store.import_batch(batch, opts) == ImportCounts(skipped=3)
    assert await snapshot(store, "a@example.com", "b@example.com", "c@example.com") == before
    assert before[0][2] == {"k": "v"}
    assert [s.status for s in before[0][4]] == [CONFIRMED]
    assert await store.import_batch([], opts) == ImportCounts()


async def test_import_dedups_addresses_case_insensitively_within_a_batch(store: Any) -> None:
    counts = await store.import_batch(rows("a@example.com", "A@EXAMPLE.com"), ImportOptions())
    assert counts == ImportCounts(inserted=1, skipped=1)


async def test_import_keeps_info_unless_overwrite_info(store: Any) -> None:
    await store.import_batch(rows("a@example.com", name="Old", attrs={"v": 1}), ImportOptions())
    new = rows("a@example.com", name="New", attrs={"v": 2})
    assert await store.import_batch(new, ImportOptions()) == ImportCounts(skipped=1)
    assert (await store.get_subscriber("a@example.com")).name == "Old"
    counts = await store.import_batch(new, ImportOptions(overwrite_info=True))
    assert counts == ImportCounts(updated=1)
    got = await store.get_subscriber("a@example.com")
    assert (got.name, dict(got.attributes)) == ("New", {"v": 2})
    counts = await store.import_batch(new, ImportOptions(overwrite_info=True))
    assert counts == ImportCounts(skipped=1)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (frozenset({"name"}), ("New", {"v": 1, "keep": True})),
        (frozenset({"attributes"}), ("Old", {"v": 2})),
        (frozenset(), ("Old", {"v": 1, "keep": True})),
    ],
)
async def test_overwrite_info_leaves_fields_the_file_lacks_alone(
    store: Any, fields: frozenset[str], expected: tuple[str, dict[str, Any]]
) -> None:
    # Issue 15: an email,name file reset the attributes, an email-only file reset the name.
    old = rows("a@example.com", "b@example.com", name="Old", attrs={"v": 1, "keep": True})
    await store.import_batch(old, ImportOptions())
    new = rows("a@example.com", name="New", attrs={"v": 2})
    opts = ImportOptions(overwrite_info=True, info_fields=fields)
    changed = expected != ("Old", {"v": 1, "keep": True})
    counts = await store.import_batch(new, opts)
    assert counts == (ImportCounts(updated=1) if changed else ImportCounts(skipped=1))
    got = await store.get_subscriber("a@example.com")
    assert (got.name, dict(got.attributes)) == expected
    assert await store.import_batch(new, opts) == ImportCounts(skipped=1)
    other = await store.get_subscriber("b@example.com")
    assert (other.name, dict(other.attributes)) == ("Old", {"v": 1, "keep": True})


async def test_overwrite_info_with_an_empty_cell_clears_the_field(store: Any) -> None:
    await store.import_batch(rows("a@example.com", name="Old", attrs={"v": 1}), ImportOptions())
    opts = ImportOptions(overwrite_info=True, info_fields=frozenset({"attributes"}))
    assert await store.import_batch(rows("a@example.com", name="X"), opts) == ImportCounts(
        updated=1
    )
    got = await store.get_subscriber("a@example.com")
    assert (got.name, dict(got.attributes)) == ("Old", {})


async def test_import_keeps_subscription_status_unless_overwrite_status(store: Any) -> None:
    lid = await single(store)
    sid = await subscriber(store, "a@example.com", (lid,), UNCONFIRMED)
    await subscriber(store, "b@example.com", (lid,), UNCONFIRMED)
    await store.unsubscribe(sid, None)
    opts = ImportOptions(list_ids=(lid,), status=CONFIRMED)
    batch = rows("a@example.com", "b@example.com")
    assert await store.import_batch(batch, opts) == ImportCounts(skipped=2)
    a = await store.get_subscriber("a@example.com")
    assert a.subscriptions[0].status is SubscriptionStatus.UNSUBSCRIBED
    overwrite = ImportOptions(list_ids=(lid,), status=CONFIRMED, overwrite_status=True)
    assert await store.import_batch(batch, overwrite) == ImportCounts(updated=2)
    for email in ("a@example.com", "b@example.com"):
        assert (await store.get_subscriber(email)).subscriptions[0].status is CONFIRMED
    assert await store.import_batch(batch, overwrite) == ImportCounts(skipped=2)


async def test_import_adds_existing_subscribers_to_new_lists(store: Any) -> None:
    one, two = await single(store, "one"), await single(store, "two")
    await store.import_batch(rows("a@example.com"), ImportOptions(list_ids=(one,)))
    counts = await store.import_batch(rows("a@example.com"), ImportOptions(list_ids=(one, two)))
    assert counts == ImportCounts(updated=1)
    got = await store.get_subscriber("a@example.com")
    assert [s.list_id for s in got.subscriptions] == [one, two]


async def test_import_in_blocklist_mode(store: Any) -> None:
    lid = await single(store)
    await subscriber(store, "old@example.com", (lid,))
    opts = ImportOptions(mode=ImportMode.BLOCKLIST, list_ids=(lid,))
    batch = rows("old@example.com", "new@example.com")
    assert await store.import_batch(batch, opts) == ImportCounts(inserted=1, updated=1)
    old, new = [await store.get_subscriber(e) for e in ("old@example.com", "new@example.com")]
    assert old.status is new.status is SubscriberStatus.BLOCKLISTED
    assert [s.status for s in old.subscriptions] == [SubscriptionStatus.UNSUBSCRIBED]
    assert new.subscriptions == ()
    assert await store.import_batch(batch, opts) == ImportCounts(skipped=2)
    # A later subscribe import does not bring a blocklisted address back.
    counts = await store.import_batch(batch, ImportOptions(list_ids=(lid,), status=CONFIRMED))
    assert counts == ImportCounts(skipped=2)
    assert (await store.get_subscriber("new@example.com")).subscriptions == ()
    assert (await store.get_list("single")).subscriber_count == 0


async def test_import_to_an_unknown_list_writes_nothing(store: Any) -> None:
    with pytest.raises(NotFound):
        await store.import_batch(rows("a@example.com"), ImportOptions(list_ids=(4242,)))
    with pytest.raises(NotFound):
        await store.get_subscriber("a@example.com")


# -- templates -------------------------------------------------------------------------------


async def test_templates(store: Any) -> None:
    t = await store.add_template("layout", "<html>{{ content }}</html>")
    with pytest.raises(Conflict):
        await store.add_template("layout", "x")
    assert (await store.get_template("layout")).body == "<html>{{ content }}</html>"
    assert (await store.get_template_by_id(t.id)).name == "layout"
    with pytest.raises(NotFound):
        await store.get_template("nope")
    with pytest.raises(NotFound):
        await store.get_template_by_id(t.id + 100)
    await store.add_template("b", "{{ content }}")
    assert [x.name for x in await store.templates()] == ["layout", "b"]
    assert aware_utc(t.created_at)


# -- campaigns -------------------------------------------------------------------------------


async def test_create_and_read_campaigns(store: Any) -> None:
    one, two = await single(store, "one"), await double(store, "two")
    tpl = await store.add_template("layout", "{{ content }}")
    when = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    new = NewCampaign(
        name="spring",
        subject="Hi {{ name }}",
        from_email="News <news@example.com>",
        body="<p>b</p>",
        lists=("two", "one", "two"),
        alt_body="b",
        content_type=ContentType.MARKDOWN,
        template="layout",
        messenger="postmark",
        headers=(("X-Tag", "spring"), ("X-PM-Message-Stream", "broadcast")),
        tags=("a", "b"),
        send_at=when,
    )
    c = await store.create_campaign(new, tpl.id)
    assert (c.status, c.list_ids, c.template_id, c.send_errors) == (DRAFT, (one, two), tpl.id, 0)
    assert c.headers == new.headers
    assert c.tags == ("a", "b")
    assert c.send_at == when
    assert aware_utc(c.send_at)
    assert (c.content_type, c.messenger, c.alt_body) == (ContentType.MARKDOWN, "postmark", "b")
    assert c.started_at is None
    assert c.finished_at is None
    assert c.pause_reason is None
    assert await store.get_campaign(c.id) == c
    assert await store.campaigns() == [c]
    with pytest.raises(NotFound):
        await store.get_campaign(c.id + 1)
    with pytest.raises(NotFound):
        await store.create_campaign(NewCampaign("x", "s", "f@x.org", "b", ("nope",)), None)
    with pytest.raises(NotFound):
        await store.create_campaign(NewCampaign("x", "s", "f@x.org", "b", ("one",)), tpl.id + 9)
    assert len(await store.campaigns()) == 1


async def test_transitions_compare_and_set(store: Any) -> None:
    await single(store)
    cid = await campaign(store, "single")
    t1, t2, t3 = T0, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2)
    with pytest.raises(TransitionRefused):
        await store.transition(cid, frozenset({PAUSED}), RUNNING, now=t1)
    assert (await store.get_campaign(cid)).status is DRAFT  # unchanged

    c = await store.transition(cid, frozenset({DRAFT}), RUNNING, now=t1)
    assert (c.status, c.started_at, c.updated_at) == (RUNNING, t1, t1)
    assert await store.running_campaigns() == [c]
    c = await store.transition(cid, frozenset({RUNNING}), PAUSED, now=t2, reason="too many errors")
    assert (c.status, c.pause_reason) == (PAUSED, "too many errors")
    c = await store.transition(cid, frozenset({PAUSED}), RUNNING, now=t3)
    assert (c.started_at, c.pause_reason) == (t1, None)  # first start kept
    c = await store.transition(cid, frozenset({RUNNING}), CampaignStatus.CANCELLED, now=t3)
    assert c.finished_at == t3
    assert aware_utc(c.finished_at)
    with pytest.raises(NotFound):
        await store.transition(cid + 5, frozenset({DRAFT}), RUNNING, now=t1)


async def test_due_campaigns_are_scheduled_and_due(store: Any) -> None:
    await single(store)
    early, late, draft = [await campaign(store, "single", name=n) for n in "eld"]
    scheduled = frozenset({DRAFT})
    await store.transition(
        early, scheduled, CampaignStatus.SCHEDULED, now=T0, send_at=T0 + dt.timedelta(minutes=5)
    )
    await store.transition(
        late, scheduled, CampaignStatus.SCHEDULED, now=T0, send_at=T0 + dt.timedelta(hours=5)
    )
    assert await store.due_campaigns(T0) == []
    due = await store.due_campaigns(T0 + dt.timedelta(minutes=5))
    assert [c.id for c in due] == [early]
    assert (await store.get_campaign(draft)).status is DRAFT


async def test_send_error_counter(store: Any) -> None:
    await single(store)
    cid = await campaign(store, "single")
    assert await store.add_send_errors(cid, 3) == 3
    assert await store.add_send_errors(cid, 4) == 7
    assert (await store.get_campaign(cid)).send_errors == 7
    # Every move to running starts a fresh error budget.
    await store.transition(cid, frozenset({DRAFT}), RUNNING, now=T0)
    assert (await store.get_campaign(cid)).send_errors == 0
    assert await store.add_send_errors(cid, 1) == 1
    with pytest.raises(NotFound):
        await store.add_send_errors(cid + 1, 1)


# -- subscribers' own actions: link look-ups, opt-in, bounces -----------------------------------


async def test_lookups_by_uuid(store: Any) -> None:
    await single(store)
    sid = await subscriber(store, "a@example.com", (1,))
    cid = await campaign(store, "single")
    sub = await store.get_subscriber("a@example.com")
    found = await store.get_subscriber_by_uuid(sub.uuid)
    assert (found.id, found.email, [s.list_name for s in found.subscriptions]) == (
        sid,
        "a@example.com",
        ["single"],
    )
    c = await store.get_campaign(cid)
    assert (await store.get_campaign_by_uuid(c.uuid)).id == cid
    with pytest.raises(NotFound):
        await store.get_subscriber_by_uuid(uuid.uuid4())
    with pytest.raises(NotFound):
        await store.get_campaign_by_uuid(uuid.uuid4())


async def test_confirm_optin_confirms_unconfirmed_double_optin_subscriptions_only(
    store: Any,
) -> None:
    s1, d1, d2 = await single(store), await double(store), await double(store, "double2")
    sid = await subscriber(store, "a@example.com", (s1, d1, d2), UNCONFIRMED)
    await store.unsubscribe(sid, [d2])
    assert await store.confirm_optin(sid, T0) == 1
    got = {
        s.list_name: s.status for s in (await store.get_subscriber("a@example.com")).subscriptions
    }
    assert got == {
        "single": UNCONFIRMED,  # single opt-in lists need no confirmation
        "double": CONFIRMED,
        "double2": SubscriptionStatus.UNSUBSCRIBED,  # an unsubscribe is never undone
    }
    assert await store.confirm_optin(sid, T0) == 0


async def test_confirm_optin_confirms_only_the_named_lists(store: Any) -> None:
    s1, d1, d2 = await single(store), await double(store), await double(store, "double2")
    sid = await subscriber(store, "a@example.com", (s1, d1, d2), UNCONFIRMED)
    assert await store.confirm_optin(sid, T0, [d2, s1]) == 1  # single: needs no confirmation
    got = {
        s.list_name: s.status for s in (await store.get_subscriber("a@example.com")).subscriptions
    }
    assert got == {"single": UNCONFIRMED, "double": UNCONFIRMED, "double2": CONFIRMED}
    assert await store.confirm_optin(sid, T0, []) == 0


async def test_optin_pending_until_marked_sent(store: Any) -> None:
    s1, d1, d2 = await single(store), await double(store), await double(store, "double2")
    a = await subscriber(store, "a@example.com", (d1,), UNCONFIRMED)
    b = await subscriber(store, "b@example.com", (d2,), UNCONFIRMED)
    await subscriber(store, "c@example.com", (d1,), CONFIRMED)
    await subscriber(store, "d@example.com", (s1,), UNCONFIRMED)
    e = await subscriber(store, "e@example.com", (d1,), UNCONFIRMED)
    await store.set_subscriber_status("e@example.com", SubscriberStatus.BLOCKLISTED)
    assert e  # blocklisted: never asked again

    assert [s.id for s in await store.optin_pending()] == [a, b]
    assert [s.id for s in await store.optin_pending([d2])] == [b]
    assert [s.id for s in await store.optin_pending(limit=1)] == [a]
    assert [s.id for s in await store.optin_pending(after_id=a)] == [b]
    await store.mark_optin_sent(a, T0)
    await store.mark_optin_sent(a, T0)  # twice is harmless
    assert [s.id for s in await store.optin_pending()] == [b]
    await store.confirm_optin(b, T0)
    assert await store.optin_pending() == []


async def test_add_bounce_counts_per_subscriber_and_kind(store: Any) -> None:
    await single(store)
    a = await subscriber(store, "a@example.com", (1,))
    b = await subscriber(store, "b@example.com", (1,))
    assert await store.add_bounce(a, None, "soft", "smtp", "552 full", T0) == 1
    assert await store.add_bounce(a, 7, "soft", "ses", "mailbox full", T0) == 2
    assert await store.add_bounce(a, None, "hard", "postmark", "gone", T0) == 1
    assert await store.add_bounce(b, None, "soft", "smtp", "x" * 5000, T0) == 1
    with pytest.raises(NotFound):
        await store.add_bounce(b + 100, None, "soft", "smtp", "", T0)


async def test_a_provider_event_is_recorded_once(store: Any) -> None:
    await single(store)
    a = await subscriber(store, "a@example.com", (1,))
    assert await store.add_bounce(a, None, "soft", "ses", "full", T0, "fb-1/a@example.com") == 1
    assert await store.add_bounce(a, None, "soft", "ses", "full", T0, "fb-1/a@example.com") is None
    # the same id from another provider, or no id at all, is another event
    assert (
        await store.add_bounce(a, None, "soft", "postmark", "full", T0, "fb-1/a@example.com") == 2
    )
    assert await store.add_bounce(a, None, "soft", "smtp", "452", T0) == 3
    assert await store.add_bounce(a, None, "soft", "smtp", "452", T0) == 4
