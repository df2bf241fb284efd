"""`campaignd campaigns stats ID [--json]`: a campaign's statistics (campaignd.campaigns.stats)."""

from __future__ import annotations

import click

from campaignd.campaigns.stats import CampaignStats, campaign_stats
from campaignd.cli.common import (
    AppContext,
    async_command,
    open_store,
    pass_app,
    print_json,
    print_table,
)
from campaignd.domain import utcnow


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _unique(value: int | None) -> str:
    return "-" if value is None else str(value)


def _print(s: CampaignStats) -> None:
    track = ", ".join(s.track) or "nothing"
    lines = [
        ("campaign", f"{s.name} (#{s.id}), {s.status}"),
        ("tracking", f"{track} (mode {s.tracking})"),
        ("sent", f"{s.sent} of {s.to_send} (failed {s.failed}, unknown {s.unknown}, "
                 f"skipped {s.skipped})"),
        ("bounces", f"hard {s.bounced_hard}, soft {s.bounced_soft}, "
                    f"complaints {s.complaints}"),
        ("unsubscribes", str(s.unsubscribes)),
        ("opens", f"{s.opens} (unique {_unique(s.unique_opens)}, rate {_pct(s.open_rate)}); "
                  f"machine {s.machine_opens}"),
        ("clicks", f"{s.clicks} (unique {_unique(s.unique_clicks)}, rate {_pct(s.click_rate)}); "
                   f"machine {s.machine_clicks}"),
    ]  # fmt: skip
    for name, text in lines:
        click.echo(f"{name:>12}: {text}")
    if s.links:
        click.echo("\nclicks per link:")
        print_table(
            ["clicks", "machine", "url"], [(x.clicks, x.machine_clicks, x.url) for x in s.links]
        )
    if s.series:
        click.echo(f"\nper {s.bucket}:")
        print_table(
            ["at", "sent", "failed", "unknown", "opens", "clicks", "machine o/c", "unsubs"],
            [
                (p.at, p.sent, p.failed, p.unknown, p.opens, p.clicks,
                 f"{p.machine_opens}/{p.machine_clicks}", p.unsubscribes)
                for p in s.series
            ],
        )  # fmt: skip


@click.command("stats")
@click.argument("campaign_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@pass_app
@async_command
async def stats(app: AppContext, campaign_id: int, as_json: bool) -> None:
    """Sent, failed, bounces, unsubscribes, opens and clicks of a campaign, over time."""
    settings = app.settings
    async with open_store(settings) as store:
        found = await campaign_stats(store, campaign_id, settings.tracking.mode, utcnow())
    if as_json:
        print_json(found.as_dict())
    else:
        _print(found)
