"""Open and click tracking in HTML parts: signed tokens, link rewriting, the 1x1 pixel (pure).

A token is the URL-safe base64 (no padding) of::

    kind (1) | campaign id (varint) | built at (4, Unix seconds) | [subscriber id (varint)]
    | [target URL, UTF-8] | tag (16)

kind is 1 (open) or 2 (click), plus 16 when a subscriber id follows ([tracking] mode =
"individual"; anonymous tokens name nobody). ``tag`` is HMAC-SHA256 over the rest under the
"track" purpose's key (campaignd.rendering.tokens), so the target of a click cannot be changed:
a forged or altered token is refused, never redirected (no open redirect). "Built at" lets the
endpoint tell a scanner's prefetch (seconds after delivery) from a reader.

Rewritten: the href of every ``<a>`` in the HTML part whose target is http(s), except
campaignd's own links (unsubscribe, opt-in, manage, tracking) and targets over MAX_URL
characters. The pixel goes just before the last ``</body>`` (at the end without one). A
campaign's rendered HTML is parsed once (``CampaignTracker``: cached by its text), so a
campaign whose HTML is the same for everyone only joins strings and signs tokens per message;
anonymous tokens are the same for everyone within a second and are cached too.
"""

from __future__ import annotations

import binascii
import datetime as dt
import hmac
import html
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from campaignd.domain import HitKind, TrackingMode
from campaignd.errors import InvalidToken
from campaignd.rendering.tokens import Signer

MAX_URL = 2000
_OPEN, _CLICK, _INDIVIDUAL = 1, 2, 16
_TAG = 16
_HREF = re.compile(r"""(<a\b[^>]*?\shref\s*=\s*)("([^"]*)"|'([^']*)')""", re.IGNORECASE)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{27,3000}$")
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")  # spaces and control characters: not one URL
_OWN_PATHS = ("/unsubscribe/", "/optin/", "/manage", "/t/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PIXEL = '<img src="{}" width="1" height="1" alt="" style="border:0;width:1px;height:1px">'


@dataclass(frozen=True, slots=True)
class TrackData:
    kind: HitKind  # OPEN or CLICK
    campaign_id: int
    built_at: dt.datetime
    subscriber_id: int | None = None
    url: str = ""


def _varint(value: int, out: bytearray) -> None:
    if value < 0:
        raise ValueError("ids are not negative")
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(raw) or shift > 56:
            raise InvalidToken()
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _encode(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode()


class TrackTokens:
    """Signs and verifies open and click tokens (verifying also with previous secrets)."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        self._signer = Signer(secret, "track")
        self._previous = tuple(Signer(old, "track") for old in previous)
        self._heads: dict[tuple[int, int, int], bytes] = {}

    def sign(
        self,
        kind: HitKind,
        campaign_id: int,
        built_at: int,
        subscriber_id: int | None = None,
        url: str = "",
    ) -> str:
        code = (_OPEN if kind is HitKind.OPEN else _CLICK) | (
            _INDIVIDUAL if subscriber_id is not None else 0
        )
        key = (code, campaign_id, built_at)
        head = self._heads.get(key)
        if head is None:  # the same for a campaign's tokens of one second
            out = bytearray((code,))
            _varint(campaign_id, out)
            out += struct.pack(">I", built_at & 0xFFFFFFFF)
            if len(self._heads) > 64:
                self._heads.clear()
            head = self._heads[key] = bytes(out)
        if subscriber_id is not None:
            out = bytearray(head)
            _varint(subscriber_id, out)
            if url:
                out += url.encode("utf-8")
            payload = bytes(out)
        else:
            payload = head + url.encode("utf-8") if url else head
        return _encode(payload + self._signer.tag(payload))

    def verify(self, token: str) -> TrackData:
        """The token's data; InvalidToken unless it is canonical and signed by us."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise InvalidToken()
        text = token.encode("ascii").translate(_FROM_URLSAFE)
        try:
            raw = binascii.a2b_base64(text + b"=" * (-len(text) % 4), strict_mode=True)
        except (binascii.Error, ValueError):
            raise InvalidToken() from None
        if _encode(raw) != token or len(raw) < 1 + 1 + 4 + _TAG:
            raise InvalidToken()
        payload, tag = raw[:-_TAG], raw[-_TAG:]
        if not any(
            hmac.compare_digest(tag, s.tag(payload)) for s in (self._signer, *self._previous)
        ):
            raise InvalidToken()
        return _parse(payload)


def _parse(payload: bytes) -> TrackData:
    code = payload[0]
    if code & ~_INDIVIDUAL not in (_OPEN, _CLICK):
        raise InvalidToken()
    campaign_id, pos = _read_varint(payload, 1)
    if pos + 4 > len(payload):
        raise InvalidToken()
    (stamp,) = struct.unpack(">I", payload[pos : pos + 4])
    pos += 4
    subscriber_id = None
    if code & _INDIVIDUAL:
        subscriber_id, pos = _read_varint(payload, pos)
    url = ""
    if code & ~_INDIVIDUAL == _CLICK:
        try:
            url = payload[pos:].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidToken() from None
        if not trackable(url, ""):
            raise InvalidToken()
    elif pos != len(payload):
        raise InvalidToken()
    kind = HitKind.OPEN if code & ~_INDIVIDUAL == _OPEN else HitKind.CLICK
    return TrackData(
        kind, campaign_id, dt.datetime.fromtimestamp(stamp, dt.UTC), subscriber_id, url
    )


def trackable(url: str, root_url: str) -> bool:
    """Whether a link target may be rewritten: http(s), one line, not too long, not ours."""
    if len(url) > MAX_URL or not url[:8].lower().startswith(("http://", "https://")):
        return False
    if _UNSAFE.search(url):
        return False
    if root_url and url.startswith(root_url):
        rest = url[len(root_url) :]
        return not rest.startswith(_OWN_PATHS)
    return True


# A parsed HTML part: n+1 literal texts around n places (a link's target, or None: the pixel).
_Parsed = tuple[tuple[str, ...], tuple[str | None, ...]]


class CampaignTracker:
    """One campaign's rewriting: `apply` per message (HTML parsed once per distinct text)."""

    def __init__(
        self,
        tokens: TrackTokens,
        root_url: str,
        campaign_id: int,
        mode: TrackingMode,
        *,
        opens: bool,
        clicks: bool,
    ) -> None:
        self._tokens = tokens
        self._root = root_url
        self._campaign = campaign_id
        self._individual = mode is TrackingMode.INDIVIDUAL
        self.opens, self.clicks = opens, clicks
        self._parsed: dict[str, _Parsed] = {}
        self._targets: dict[str, str | None] = {}  # href as written -> target, None: not ours
        self._second = -1
        self._anon: dict[str | None, str] = {}

    def parse(self, text: str) -> _Parsed:
        found = self._parsed.get(text)
        if found is not None:
            return found
        literals: list[str] = []
        places: list[str | None] = []
        pos = 0
        if self.clicks:
            targets = self._targets
            for m in _HREF.finditer(text):
                value = m.group(3) if m.group(3) is not None else m.group(4)
                if value in targets:
                    target = targets[value]
                else:
                    target = html.unescape(value) if "&" in value else value
                    if not trackable(target, self._root):
                        target = None
                    if len(targets) < 1000:
                        targets[value] = target
                if target is None:
                    continue
                quote = m.group(2)[0]
                literals.append(text[pos : m.end(1)] + quote)
                places.append(target)
                pos = m.end(2) - 1  # the closing quote stays literal
        tail = text[pos:]
        if self.opens:
            cut = tail.lower().rfind("</body")
            cut = len(tail) if cut < 0 else cut
            literals.append(tail[:cut])
            places.append(None)
            tail = tail[cut:]
        literals.append(tail)
        parsed = (tuple(literals), tuple(places))
        if len(self._parsed) >= 8:  # personalised HTML: do not keep every variant
            self._parsed.clear()
        self._parsed[text] = parsed
        return parsed

    def apply(self, text: str, subscriber_id: int, now: dt.datetime) -> str:
        """The HTML part with tracked links and the pixel for one recipient."""
        literals, places = self.parse(text)
        if not places:
            return text
        second = int(now.timestamp())
        if second != self._second:
            self._second, self._anon = second, {}
        out = [literals[0]]
        for place, literal in zip(places, literals[1:], strict=True):
            out.append(self._url(place, subscriber_id, second))
            out.append(literal)
        return "".join(out)

    def _url(self, target: str | None, subscriber_id: int, second: int) -> str:
        if not self._individual:
            url = self._anon.get(target)
            if url is not None:
                return url
        kind = HitKind.OPEN if target is None else HitKind.CLICK
        who = subscriber_id if self._individual else None
        token = self._tokens.sign(kind, self._campaign, second, who, target or "")
        if target is None:
            url = _PIXEL.format(f"{self._root}/t/o/{token}")
        else:
            url = f"{self._root}/t/c/{token}"
        if not self._individual:
            self._anon[target] = url
        return url
