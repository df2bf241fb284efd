"""Per-campaign deliverability: Feedback-ID and Precedence lines, and the headers DKIM signs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from campaignd.config import AppSettings
from campaignd.rendering.dkim import DEFAULT_HEADERS, DkimSigner


def campaign_signer(
    dkim: DkimSigner | None, from_addr: str, headers: Sequence[tuple[str, str]], app: AppSettings
) -> Callable[[bytes], bytes] | None:
    """The signer of the From domain's [[dkim]] key for one campaign (its parsed key, header
    list and tag text settled now; callable, and `offloaded` for the messenger), or None when
    that domain has no key."""
    if dkim is None:
        return None
    return dkim.for_campaign(from_addr.rpartition("@")[2], signed_headers(headers, app))


def signed_headers(headers: Sequence[tuple[str, str]], app: AppSettings) -> tuple[str, ...]:
    """DKIM's signed header names for a campaign: the usual ones, its own headers, Precedence."""
    names = [*DEFAULT_HEADERS]
    seen = {name.lower() for name in names}
    for name in [*(n for n, _ in headers), *(["Precedence"] if app.precedence_bulk else [])]:
        if name.lower() not in seen:
            seen.add(name.lower())
            names.append(name)
    return tuple(names)


def deliverability_lines(
    app: AppSettings, campaign_id: int, list_ids: Sequence[int], headers: Sequence[tuple[str, str]]
) -> str:
    """Feedback-ID and Precedence lines of a campaign (none for opt-in mails, campaign id 0);
    a header the campaign sets itself is left to it."""
    own = {name.lower() for name, _ in headers}
    lines = ""
    if campaign_id and app.feedback_id_sender and "feedback-id" not in own:
        lists = ".".join(str(i) for i in sorted(list_ids)) or "0"
        lines += f"Feedback-ID: {campaign_id}:{lists}:{app.feedback_id_sender}\r\n"
    if campaign_id and app.precedence_bulk and "precedence" not in own:
        lines += "Precedence: bulk\r\n"
    return lines
