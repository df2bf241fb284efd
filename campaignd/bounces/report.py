"""What the operator sees of recorded bounces: listings (by campaign, by address) and counts."""

from __future__ import annotations

from campaignd.domain import Bounce, BounceCounts
from campaignd.errors import InvalidInput
from campaignd.store.protocol import Store

#: The most bounces one listing returns (`bounces ls --limit`).
MAX_LIMIT = 100_000
DEFAULT_LIMIT = 100


async def list_bounces(
    store: Store,
    *,
    campaign_id: int | None = None,
    email: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Bounce]:
    """Recorded bounces, newest first, of one campaign and/or one address. An unknown
    campaign or address is refused (NotFound), as is a limit outside 1..MAX_LIMIT."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"--limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if campaign_id is not None:
        await store.get_campaign(campaign_id)  # NotFound: "no campaign with id N"
    subscriber_id = None
    if email is not None:
        if not email.isprintable():
            raise InvalidInput("--email: an address has no control characters")
        subscriber_id = (await store.get_subscriber(email)).id  # NotFound names the address
    return await store.bounces(campaign_id=campaign_id, subscriber_id=subscriber_id, limit=limit)


async def campaign_bounces(store: Store, campaign_id: int) -> BounceCounts:
    """A campaign's bounces by kind (hard, soft, complaint)."""
    return await store.bounce_counts(campaign_id)


def one_line(text: str, width: int = 0) -> str:
    """Text from a remote server for a terminal: control characters (escape sequences, line
    breaks) as spaces, and cut to `width` characters when given."""
    flat = "".join(c if c.isprintable() else " " for c in text)
    if width and len(flat) > width:
        return flat[: width - 1] + "…"
    return flat


async def subscriber_bounces(
    store: Store, subscriber_id: int, limit: int = DEFAULT_LIMIT
) -> list[Bounce]:
    """One person's recorded bounces, newest first (for `subscribers show`)."""
    return await store.bounces(subscriber_id=subscriber_id, limit=limit)


def campaign_label(bounce: Bounce) -> str | None:
    """`spring (#3)`, `#999` for a campaign since removed, None without a campaign."""
    if bounce.campaign_id is None:
        return None
    if bounce.campaign_name is None:
        return f"#{bounce.campaign_id}"
    return f"{one_line(bounce.campaign_name, 40)} (#{bounce.campaign_id})"
