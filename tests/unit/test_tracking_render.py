"""Open and click tracking in rendered messages: which links are rewritten, tokens, privacy."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

import pytest

from campaignd.domain import HitKind, TrackingMode
from campaignd.errors import InvalidToken
from campaignd.rendering.compose import CampaignMailer
from campaignd.rendering.tracking import CampaignTracker, TrackTokens, trackable
from tests.unit.test_compose import APP, LAYOUT, NOW, SECRET, campaign, recipient

ROOT = APP.root_url
BODY = (
    '<p><a href="https://shop.example/a?x=1&amp;y=2">Shop</a> '
    "<a class='b' href='http://blog.example/p'>Blog</a> "
    '<a href="mailto:me@example.com">Mail</a> <a href="#top">Top</a> '
    '<a href="{{ unsubscribe_url() }}">Unsubscribe</a></p>'
)


def html_part(message: bytes) -> str:
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    part = parsed.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def build(track: tuple[str, ...], mode: TrackingMode, body: str = BODY, **kw: Any) -> str:
    mailer = CampaignMailer.prepare(
        campaign(body=body, track=track), LAYOUT, APP, SECRET, tracking=mode
    )
    return html_part(mailer.build(recipient(**kw), NOW)[1])


def tokens_in(text: str, kind: str) -> list[str]:
    return re.findall(rf"{re.escape(ROOT)}/t/{kind}/([A-Za-z0-9_-]+)", text)


def test_clicks_rewrite_http_links_only_and_keep_own_links() -> None:
    out = build(("clicks",), TrackingMode.ANONYMOUS)
    tokens = [TrackTokens(SECRET).verify(t) for t in tokens_in(out, "c")]
    assert [t.url for t in tokens] == ["https://shop.example/a?x=1&y=2", "http://blog.example/p"]
    assert all(t.kind is HitKind.CLICK and t.campaign_id == 7 for t in tokens)
    assert "mailto:me@example.com" in out and 'href="#top"' in out
    assert f"{ROOT}/unsubscribe/" in out  # the unsubscribe link is never rewritten
    assert "/t/o/" not in out  # opens were not asked for


def test_opens_add_one_pixel_before_body_end() -> None:
    out = build(("opens",), TrackingMode.ANONYMOUS)
    assert out.count("/t/o/") == 1
    assert out.index("/t/o/") < out.lower().rindex("</body>")
    assert "/t/c/" not in out and 'href="https://shop.example/a?x=1&amp;y=2"' in out
    (token,) = tokens_in(out, "o")
    data = TrackTokens(SECRET).verify(token)
    assert data.kind is HitKind.OPEN and data.built_at == NOW.replace(microsecond=0)


@pytest.mark.parametrize(
    ("track", "mode"),
    [
        (("opens", "clicks"), TrackingMode.OFF),
        ((), TrackingMode.ANONYMOUS),
        ((), TrackingMode.INDIVIDUAL),
    ],
)
def test_tracking_off_means_no_pixel_and_no_rewritten_link(
    track: tuple[str, ...], mode: TrackingMode
) -> None:
    out = build(track, mode)
    assert "/t/o/" not in out and "/t/c/" not in out
    assert 'href="https://shop.example/a?x=1&amp;y=2"' in out


def test_anonymous_tokens_name_no_subscriber_individual_ones_do() -> None:
    anon = build(("opens", "clicks"), TrackingMode.ANONYMOUS)
    other = build(("opens", "clicks"), TrackingMode.ANONYMOUS, email_="b@example.org")
    assert tokens_in(anon, "c") == tokens_in(other, "c")  # nothing tells the readers apart
    for token in tokens_in(anon, "c") + tokens_in(anon, "o"):
        assert TrackTokens(SECRET).verify(token).subscriber_id is None
    mine = build(("opens", "clicks"), TrackingMode.INDIVIDUAL)
    for token in tokens_in(mine, "c") + tokens_in(mine, "o"):
        assert TrackTokens(SECRET).verify(token).subscriber_id == recipient().subscriber_id


def test_a_changed_token_is_refused() -> None:
    tokens = TrackTokens(SECRET)
    good = tokens.sign(HitKind.CLICK, 7, 1_700_000_000, None, "https://shop.example/")
    assert tokens.verify(good).url == "https://shop.example/"
    evil = tokens.sign(HitKind.CLICK, 7, 1_700_000_000, None, "https://evil.example/")
    forged = evil[: len(evil) - 22] + good[-22:]  # the other token's tag
    for bad in (forged, good[:-1], good + "A", good[:-1] + ("A" if good[-1] != "A" else "B"), ""):
        with pytest.raises(InvalidToken):
            tokens.verify(bad)
    with pytest.raises(InvalidToken):
        TrackTokens("another-secret-of-some-length").verify(good)
    assert TrackTokens("new-secret-of-some-length", [SECRET]).verify(good).campaign_id == 7


def test_trackable_targets() -> None:
    assert trackable("https://x.example/", ROOT)
    assert trackable(f"{ROOT}/blog", ROOT)
    for url in (
        "mailto:a@b",
        "javascript:alert(1)",
        "ftp://x",
        f"{ROOT}/unsubscribe/abc",
        f"{ROOT}/optin/abc",
        f"{ROOT}/t/c/abc",
        "https://x.example/" + "a" * 3000,
        "https://x.example/\r\nLocation: evil",
    ):
        assert not trackable(url, ROOT), url


def test_the_parse_is_reused_for_the_same_html() -> None:
    tracker = CampaignTracker(
        TrackTokens(SECRET), ROOT, 7, TrackingMode.INDIVIDUAL, opens=True, clicks=True
    )
    html = '<body><a href="https://x.example/">x</a></body>'
    first = tracker.parse(html)
    assert tracker.parse(html) is first
    one = tracker.apply(html, 1, NOW)
    two = tracker.apply(html, 2, NOW + dt.timedelta(seconds=1))
    assert one != two and one.count("/t/") == two.count("/t/") == 2
