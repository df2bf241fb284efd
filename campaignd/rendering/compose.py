"""Message assembly: a campaign prepared once (CampaignMailer), then one message per recipient.

Each message is built as bytes directly (the stdlib EmailMessage path is ~10x slower):

    Date, From, To, Subject, Message-ID, MIME-Version, List-Unsubscribe (https, then mailto
    when app.unsubscribe_mailto is set), List-Unsubscribe-Post, X-Campaignd-Id
    (``<campaign uuid>.<subscriber uuid>``), the campaign's own headers, then
    multipart/alternative (text/plain + text/html) or a single text/plain part, UTF-8.

The mailer is the per-message composition; what is settled once per campaign lives with its
collaborators: the signed links (campaignd.rendering.links), the From line, envelope sender
(VERP with ``[bounces] return_path``), Message-ID and unsubscribe mailto
(campaignd.rendering.envelope), the campaign's own headers, refused if they name one written
here (OWNED_HEADERS), and the Date line (campaignd.rendering.header_lines).

A campaign tracking opens or clicks (``--track``, within ``[tracking] mode``) gets its HTML part
rewritten per recipient by campaignd.rendering.tracking (the pixel, links through /t/c/).

Campaign messages also get ``Feedback-ID: <campaign id>:<list ids>:<app.feedback_id_sender>``
when that is set and ``Precedence: bulk`` with app.precedence_bulk, unless the campaign sets
them. With a [[dkim]] key for the From domain, ``sign`` is that key's signer, settled once per
campaign; the messenger applies it once the server's headers are in (see messengers.protocol).

Per-recipient problems (a template failing on one subscriber's data, an oversized output, an
address that cannot go in a header) raise TemplateError so the dispatcher can fail that
recipient alone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
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
from campaignd.errors import InvalidInput, SlowRender, TemplateError
from campaignd.rendering import mime
from campaignd.rendering import templates as render
from campaignd.rendering.deliverability import campaign_signer, deliverability_lines
from campaignd.rendering.dkim import DkimSigner
from campaignd.rendering.envelope import CampaignEnvelope
from campaignd.rendering.header_lines import CampaignHeaderLines, check_headers, render_headers
from campaignd.rendering.links import CampaignLinks
from campaignd.rendering.sample import sample_attributes
from campaignd.rendering.template_data import (
    Attributes,
    BlankAttributes,
    CampaignData,
    SubscriberData,
    sample_subscriber,
)
from campaignd.rendering.templates import CampaignRenderer
from campaignd.rendering.tracking import CampaignTracker, TrackTokens

log = logging.getLogger(__name__)

#: Seconds a render may hold the event loop; a slower one is run again in the render thread
#: (with the full template_timeout), and so are the campaign's later renders.
INLINE_RENDER_BUDGET = 0.05
_render_pool: ThreadPoolExecutor | None = None


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
        self.renderer = renderer
        self._optin_lists = tuple(optin_lists)
        self._campaign_text = str(campaign_uuid)
        self._blank = app.missing_attributes == "blank"
        self._links = CampaignLinks(campaign_uuid, app.root_url, secret)
        self._envelope = CampaignEnvelope(
            campaign_uuid, from_header, app, secret, campaign_id, return_path
        )
        self._headers = CampaignHeaderLines(headers)
        self._deliverability = deliverability_lines(app, campaign_id, self._optin_lists, headers)
        #: The DKIM signer of this campaign's From domain (for Messenger.send), else None.
        self.sign = campaign_signer(dkim, self._envelope.from_addr, headers, app)
        boundary = f"=_cd_{campaign_uuid.hex}"
        self._multipart = renderer.has_html
        self._content_head = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            if self._multipart
            else ""
        )
        self._delim = f"--{boundary}\r\n".encode()
        self._close = f"--{boundary}--\r\n".encode()
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
            headers=render_headers(campaign.headers),
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
        return self._envelope.from_addr

    def envelope_sender(self, recipient: Recipient) -> str:
        """MAIL FROM for one recipient: its VERP address with [bounces] return_path, else From."""
        return self._envelope.sender(recipient)

    def message_id(self, recipient: Recipient) -> str:
        return self._envelope.message_id(recipient)

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
        envelope, heads = self._envelope, self._headers
        message_id = envelope.message_id(recipient)
        sub_uuid = recipient.uuid
        sub_text = str(sub_uuid)
        unsub = self._links.unsubscribe_url(sub_uuid)
        lists = self._optin_lists if optin_lists is None else optin_lists
        links = self._links.links(unsub, sub_uuid, lists, now)
        attributes = _attributes(recipient.attributes, self._blank)
        data = SubscriberData(recipient.email, recipient.name, sub_text, attributes, links)
        rendered = self.renderer.render(data, budget)
        lines = [
            heads.date_line(now),
            envelope.from_line,
            mime.address("To", recipient.name, to_addr),
            heads.subject_line(rendered.subject),
            f"Message-ID: {message_id}\r\nMIME-Version: 1.0\r\n",
            f"List-Unsubscribe: <{unsub}{envelope.mailto_tail(sub_uuid)}",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            f"X-Campaignd-Id: {self._campaign_text}.{sub_text}\r\n",
            self._deliverability,
        ]
        heads.add_campaign_lines(lines, rendered.headers)
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

    def web_view(self, recipient: Recipient | None, now: dt.datetime) -> str:
        """The campaign as a web page (the archive): its HTML part (or its text, escaped, in a
        <pre>), rendered for `recipient`, or for the sample subscriber when None."""
        if recipient is None:
            data = sample_subscriber()
        else:
            unsub = self._links.unsubscribe_url(recipient.uuid)
            links = self._links.links(unsub, recipient.uuid, (), now)
            attributes = _attributes(recipient.attributes, self._blank)
            data = SubscriberData(
                recipient.email, recipient.name, str(recipient.uuid), attributes, links
            )
        rendered = self.renderer.render(data)
        if rendered.html is not None:
            return rendered.html
        return f"<pre>{html.escape(rendered.text or '')}</pre>"


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
        headers=render_headers(campaign.headers),
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
