"""Message assembly: a campaign prepared once (CampaignMailer), then one message per recipient.

Each message is built as bytes directly (the stdlib EmailMessage path is ~10x slower):

    Date, From, To, Subject, Message-ID, MIME-Version, List-Unsubscribe (https, then mailto
    when app.unsubscribe_mailto is set), List-Unsubscribe-Post, X-Campaignd-Id
    (``<campaign uuid>.<subscriber uuid>``), the campaign's own headers, then
    multipart/alternative (text/plain + text/html) or a single text/plain part, UTF-8.

With ``[bounces] return_path`` set (VERP, see campaignd.rendering.verp), the envelope sender
of each message is ``<return_path local>+<token>@<domain>`` (``envelope_sender``) and the
mailto is ``<unsubscribe_mailto local>+<token>@<domain>``: one HMAC per recipient, the rest built
once per campaign. Return-Path is never written (the receiving MTA adds it from MAIL FROM).

A campaign tracking opens or clicks (``--track``, within ``[tracking] mode``) gets its HTML part
rewritten per recipient by campaignd.rendering.tracking (the pixel, links through /t/c/).

The Message-ID is derived from the campaign and subscriber uuids (base32) on
app.message_id_domain, else the From domain: retries of a ledger row keep it. Campaign
messages also get ``Feedback-ID: <campaign id>:<list ids>:<app.feedback_id_sender>`` when
that is set and ``Precedence: bulk`` with app.precedence_bulk, unless the campaign sets them.
With a [[dkim]] key for the From domain, ``sign`` is that key's signer, settled once per
campaign; the messenger applies it once the server's headers are in (see messengers.protocol).

Campaign headers are templates rendered per subscriber. Their names must be field names and
must not be one of the headers this module owns (``OWNED_HEADERS``: From, To, Cc, Bcc, Subject,
Date, Message-ID, MIME-Version, Content-*, List-Unsubscribe*, X-Campaignd-Id, Return-Path):
overriding those would break the message's structure, its unsubscribe guarantee or its
recipients. Operator-given values with a line break or control character are refused with
HeaderInjection naming the header; rendered values are sanitized (see mime). In address headers
(Reply-To, Sender...) the addresses are literal and only display names are rendered
(campaignd.rendering.address_headers).

Per-recipient problems (a template failing on one subscriber's data, an oversized output, an
address that cannot go in a header) raise TemplateError so the dispatcher can fail that
recipient alone.
"""

from __future__ import annotations

import asyncio
import binascii
import datetime as dt
import html
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from functools import partial
from typing import Any

from campaignd.config import AppSettings
from campaignd.domain import (
    TRACK_OPTIONS,
    Campaign,
    ContentType,
    HitKind,
    NewCampaign,
    Recipient,
    Template,
    TrackingMode,
)
from campaignd.errors import HeaderInjection, InvalidInput, SlowRender, TemplateError
from campaignd.rendering import address_headers, mime
from campaignd.rendering import templates as render
from campaignd.rendering.deliverability import campaign_signer, deliverability_lines
from campaignd.rendering.dkim import DkimSigner
from campaignd.rendering.sample import sample_attributes
from campaignd.rendering.template_data import (
    Attributes,
    BlankAttributes,
    CampaignData,
    Links,
    SubscriberData,
    sample_subscriber,
)
from campaignd.rendering.templates import CampaignRenderer
from campaignd.rendering.tokens import Signer
from campaignd.rendering.tracking import CampaignTracker, TrackTokens
from campaignd.rendering.verp import CampaignVerp, VerpCodec

OWNED_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
        "list-unsubscribe", "list-unsubscribe-post", "x-campaignd-id", "return-path",
    }
)  # fmt: skip
log = logging.getLogger(__name__)

#: Seconds a render may hold the event loop; a slower one is run again in the render thread
#: (with the full template_timeout), and so are the campaign's later renders.
INLINE_RENDER_BUDGET = 0.05
_render_pool: ThreadPoolExecutor | None = None

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def check_headers(headers: tuple[tuple[str, str], ...]) -> None:
    for name, value in headers:
        mime.check_header_name(name)
        lowered = name.lower()
        if lowered in OWNED_HEADERS or lowered.startswith("content-"):
            raise HeaderInjection(f"header {name}: campaignd sets this header itself")
        mime.check_header_value(name, value)


def _render_headers(headers: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    """The header templates as the renderer renders them: an address header (Reply-To...)
    becomes its display names only (rendering.address_headers); HeaderInjection if it cannot."""
    return tuple(
        (name, address_headers.render_source(address_headers.parse(name, value)))
        if address_headers.is_address_header(name)
        else (name, value)
        for name, value in headers
    )


def _address_line(mailboxes: tuple[address_headers.Mailbox, ...], name: str, value: str) -> str:
    names = address_headers.displays(name, value, len(mailboxes))
    return mime.mailbox_list(name, [(d, m.address) for d, m in zip(names, mailboxes, strict=True)])


class CampaignMailer:
    """One campaign's compiled templates and fixed header lines; `build` per recipient."""

    def __init__(
        self,
        campaign_uuid: uuid.UUID,
        renderer: CampaignRenderer,
        from_header: tuple[str, str],
        headers: tuple[tuple[str, str], ...],
        app: AppSettings,
        secret: str,
        optin_lists: Sequence[int] = (),
        *,
        campaign_id: int = 0,
        return_path: str = "",
        tracker: CampaignTracker | None = None,
        dkim: DkimSigner | None = None,
    ) -> None:
        display, self._from_addr = from_header
        self._optin_lists = tuple(optin_lists)
        self.renderer = renderer
        self._campaign_uuid = campaign_uuid
        self._campaign_bytes = campaign_uuid.bytes
        self._campaign_text = str(campaign_uuid)
        self._unsub = Signer(secret, "unsub")
        self._optin = Signer(secret, "optin")
        self._manage = Signer(secret, "manage")
        self._archive = Signer(secret, "archive")
        self._root = app.root_url
        self._blank = app.missing_attributes == "blank"
        self._from_line = mime.address("From", display, self._from_addr)
        domain = app.message_id_domain or self._from_addr.rpartition("@")[2]
        self._mid_domain = mime.check_address(f"x@{domain}", "Message-ID domain").rpartition("@")[2]
        mailto = addr = ""
        if app.unsubscribe_mailto:
            addr = mime.parse_mailbox(app.unsubscribe_mailto, "app.unsubscribe_mailto")[1]
            mailto = f",\r\n <mailto:{addr}?subject=unsubscribe>"
        self._unsub_tail = f">{mailto}\r\n"
        self._verp: CampaignVerp | None = None
        self._verp_mailto = False
        if return_path:
            self._verp = VerpCodec(secret).for_campaign(campaign_id, return_path, addr)
            self._verp_mailto = bool(addr)
        self._header_kinds: list[Callable[[str, str], str]] = [
            partial(_address_line, address_headers.parse(name, value))
            if address_headers.is_address_header(name)
            else mime.unstructured
            for name, value in headers
        ]
        self._header_names = [name for name, _ in headers]
        self._deliverability = deliverability_lines(app, campaign_id, self._optin_lists, headers)
        #: The DKIM signer of this campaign's From domain (for Messenger.send), else None.
        self.sign = campaign_signer(dkim, self._from_addr, headers, app)
        self._cache: dict[tuple[int, str], str] = {}
        boundary = f"=_cd_{campaign_uuid.hex}"
        self._multipart = renderer.has_html
        self._content_head = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            if self._multipart
            else ""
        )
        self._delim = f"--{boundary}\r\n".encode()
        self._close = f"--{boundary}--\r\n".encode()
        self._date: tuple[int, str] = (-1, "")
        self._bodies = mime.BodyEncoder()
        self.slow = False  # renders run in the render thread, not on the event loop
        self._tracker = tracker if self._multipart else None  # the HTML part only

    @classmethod
    def prepare(
        cls,
        campaign: Campaign,
        layout: Template | None,
        app: AppSettings,
        secret: str,
        return_path: str = "",
        tracking: TrackingMode = TrackingMode.OFF,
        dkim: DkimSigner | None = None,
    ) -> CampaignMailer:
        """Compile everything once; raise TemplateError or HeaderInjection if it cannot work
        (InvalidInput for a `return_path` that cannot carry a VERP token). Opens and clicks
        are tracked as the campaign asks unless `tracking` is off."""
        check_headers(campaign.headers)
        renderer = _renderer(
            subject=campaign.subject,
            body=campaign.body,
            content_type=campaign.content_type,
            alt_body=campaign.alt_body,
            layout=layout.body if layout is not None else None,
            headers=_render_headers(campaign.headers),
            data=CampaignData(campaign.name, campaign.subject, str(campaign.uuid), campaign.tags),
            app=app,
        )
        from_header = mime.parse_mailbox(campaign.from_email or app.from_email, "from_email")
        return cls(
            campaign.uuid,
            renderer,
            from_header,
            campaign.headers,
            app,
            secret,
            campaign.list_ids,
            campaign_id=campaign.id,
            return_path=return_path,
            tracker=_tracker(campaign, app.root_url, secret, tracking),
            dkim=dkim,
        )

    @property
    def envelope_from(self) -> str:
        """The From address: the envelope sender without VERP."""
        return self._from_addr

    def envelope_sender(self, recipient: Recipient) -> str:
        """MAIL FROM for one recipient: its VERP address with [bounces] return_path, else From."""
        verp = self._verp
        return self._from_addr if verp is None else verp.bounce_address(recipient.uuid)

    def message_id(self, recipient: Recipient) -> str:
        raw = binascii.b2a_base64(self._campaign_bytes + recipient.uuid.bytes, newline=False)
        return f"<{raw[:43].translate(_URLSAFE).decode('ascii')}@{self._mid_domain}>"

    def _date_line(self, now: dt.datetime) -> str:
        second = int(now.timestamp())
        if self._date[0] != second:
            stamp = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)
            self._date = (second, f"Date: {format_datetime(stamp.replace(microsecond=0))}\r\n")
        return self._date[1]

    def _cached(self, slot: int, make: Callable[[str, str], str], name: str, value: str) -> str:
        """A header line; personalised values miss, a value shared by everyone is built once."""
        line = self._cache.get((slot, value))
        if line is None:
            line = make(name, value)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[(slot, value)] = line
        return line

    async def build_async(self, recipient: Recipient, now: dt.datetime) -> tuple[str, bytes]:
        """`build` that never holds the event loop for long: a render still running after
        INLINE_RENDER_BUDGET is given up and run again in the render thread (one for the
        daemon, so hostile templates cannot take every core), and from then on every render
        of this campaign is. The thread shares the interpreter lock with the loop, which still
        gets its turn every few milliseconds (health checks, other campaigns)."""
        if not self.slow:
            try:
                return self.build(recipient, now, budget=INLINE_RENDER_BUDGET)
            except SlowRender:
                self.slow = True
                log.warning(
                    "campaign %s: a render took longer than %g s: rendering in a thread",
                    self._campaign_text,
                    INLINE_RENDER_BUDGET,
                    extra={"action": "render.slow"},
                )
        global _render_pool
        if _render_pool is None:
            _render_pool = ThreadPoolExecutor(1, thread_name_prefix="campaignd-render")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_render_pool, self.build, recipient, now)

    def build(
        self,
        recipient: Recipient,
        now: dt.datetime,
        optin_lists: Sequence[int] | None = None,
        budget: float | None = None,
    ) -> tuple[str, bytes]:
        """(Message-ID, complete message bytes with CRLF line ends) for one recipient;
        `{{ optin_url() }}` confirms `optin_lists` (default: the campaign's lists). With a
        budget, a render running longer raises SlowRender (see build_async)."""
        to_addr = mime.check_address(recipient.email, "recipient address")
        message_id = self.message_id(recipient)
        sub_uuid = recipient.uuid
        sub_text = str(sub_uuid)
        unsub = f"{self._root}/unsubscribe/{self._unsub.sign(sub_uuid, self._campaign_uuid)}"
        lists = self._optin_lists if optin_lists is None else optin_lists
        links = self._links(unsub, sub_uuid, lists, now)
        attributes = _attributes(recipient.attributes, self._blank)
        data = SubscriberData(recipient.email, recipient.name, sub_text, attributes, links)
        rendered = self.renderer.render(data, budget)
        lines = [
            self._date_line(now),
            self._from_line,
            mime.address("To", recipient.name, to_addr),
            self._cached(-1, mime.unstructured, "Subject", rendered.subject),
            f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
            f"List-Unsubscribe: <{unsub}{self._mailto_tail(sub_uuid)}",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            f"X-Campaignd-Id: {self._campaign_text}.{sub_text}\r\n",
            self._deliverability,
        ]
        for i, value in enumerate(rendered.headers):
            lines.append(self._cached(i, self._header_kinds[i], self._header_names[i], value))
        text_cte, text = self._bodies.encode(rendered.text or "")
        if not self._multipart:
            lines.append(
                f"Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: {text_cte}\r\n\r\n"
            )
            return message_id, "".join(lines).encode("utf-8") + text
        part = rendered.html or ""
        if self._tracker is not None:
            part = self._tracker.apply(part, recipient.subscriber_id, now)
        html_cte, html = self._bodies.encode(part)
        lines.append(self._content_head)
        return message_id, b"".join(
            (
                "".join(lines).encode("utf-8"),
                self._delim,
                f"Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: {text_cte}\r\n\r\n".encode(),
                text,
                self._delim,
                f"Content-Type: text/html; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: {html_cte}\r\n\r\n".encode(),
                html,
                self._close,
            )
        )

    def _mailto_tail(self, subscriber_uuid: uuid.UUID) -> str:
        if not self._verp_mailto:
            return self._unsub_tail
        assert self._verp is not None
        mailto = self._verp.unsubscribe_address(subscriber_uuid)
        return f">,\r\n <mailto:{mailto}?subject=unsubscribe>\r\n"

    def _links(
        self, unsub: str, sub_uuid: uuid.UUID, lists: Sequence[int], now: dt.datetime
    ) -> Links:
        return Links(
            unsub,
            partial(self._optin_url, sub_uuid, lists),
            now,
            manage=lambda: f"{self._root}/manage/{self._manage.sign(sub_uuid)}",
            archive=lambda: (
                f"{self._root}/archive/{self._campaign_text}/"
                f"{self._archive.sign(sub_uuid, self._campaign_uuid)}"
            ),
        )

    def web_view(self, recipient: Recipient | None, now: dt.datetime) -> str:
        """The campaign as a web page (the archive): its HTML part (or its text, escaped, in a
        <pre>), rendered for `recipient`, or for the sample subscriber when None."""
        if recipient is None:
            data = sample_subscriber()
        else:
            unsub = self._unsub.sign(recipient.uuid, self._campaign_uuid)
            links = self._links(f"{self._root}/unsubscribe/{unsub}", recipient.uuid, (), now)
            attributes = _attributes(recipient.attributes, self._blank)
            data = SubscriberData(
                recipient.email, recipient.name, str(recipient.uuid), attributes, links
            )
        rendered = self.renderer.render(data)
        if rendered.html is not None:
            return rendered.html
        return f"<pre>{html.escape(rendered.text or '')}</pre>"

    def _optin_url(self, subscriber_uuid: uuid.UUID, list_ids: Sequence[int]) -> str:
        return f"{self._root}/optin/{self._optin.sign_lists(subscriber_uuid, list_ids)}"


def _tracker(
    campaign: Campaign, root_url: str, secret: str, mode: TrackingMode
) -> CampaignTracker | None:
    kinds = {TRACK_OPTIONS[t] for t in campaign.track if t in TRACK_OPTIONS}
    if mode is TrackingMode.OFF or not kinds:
        return None
    return CampaignTracker(
        TrackTokens(secret),
        root_url,
        campaign.id,
        mode,
        opens=HitKind.OPEN in kinds,
        clicks=HitKind.CLICK in kinds,
    )


def _renderer(
    *,
    subject: str,
    body: str,
    content_type: ContentType,
    alt_body: str | None,
    layout: str | None,
    headers: tuple[tuple[str, str], ...],
    data: CampaignData,
    app: AppSettings,
) -> CampaignRenderer:
    return CampaignRenderer(
        subject=subject,
        body=body,
        content_type=content_type,
        alt_body=alt_body,
        layout=layout if content_type is not ContentType.PLAIN else None,
        headers=headers,
        campaign=data,
        max_output=app.template_max_output,
        timeout=app.template_timeout,
    )


def check_campaign(campaign: NewCampaign, layout_body: str | None, app: AppSettings) -> None:
    """Everything checkable at creation: templates compile and render on a sample subscriber,
    from_email is an address, headers are valid. Raises TemplateError, HeaderInjection or
    InvalidInput naming the field (and line)."""
    if not campaign.subject.strip():
        raise InvalidInput("subject: must not be empty")
    check_headers(campaign.headers)
    try:
        mime.parse_mailbox(campaign.from_email or app.from_email, "from_email")
    except TemplateError as exc:
        raise InvalidInput(str(exc)) from None
    renderer = _renderer(
        subject=campaign.subject,
        body=campaign.body,
        content_type=campaign.content_type,
        alt_body=campaign.alt_body,
        layout=layout_body,
        headers=_render_headers(campaign.headers),
        data=CampaignData(campaign.name, campaign.subject, str(uuid.UUID(int=0)), campaign.tags),
        app=app,
    )
    renderer.check()


def check_layout(body: str, app: AppSettings | None = None) -> None:
    """A campaign template (layout) compiles, places {{ content }} and renders on sample data."""
    app = app or AppSettings()
    render.check_layout(body, max_output=app.template_max_output, timeout=app.template_timeout)


def _attributes(value: Mapping[str, Any], blank: bool = False) -> Mapping[str, Any]:
    """Real attributes get MissingAttribute for absent keys (one that prints empty when
    `blank`); the sample mapping is kept."""
    if not isinstance(value, dict):
        return value
    return BlankAttributes(value) if blank else Attributes(value)


def sample_recipient(email: str = "subscriber@example.com", campaign_id: int = 0) -> Recipient:
    """A stand-in subscriber for previews and test sends to addresses not in the database."""
    return Recipient(
        ledger_id=0,
        campaign_id=campaign_id,
        subscriber_id=0,
        uuid=uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{email}"),
        email=email,
        name="Sample Subscriber",
        attributes=sample_attributes(),
        attempts=0,
    )
