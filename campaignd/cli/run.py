"""`campaignd run`: the daemon (long-running, or until idle)."""

from __future__ import annotations

import asyncio
import sys

import click

from campaignd.cli.common import AppContext, pass_app


@click.command()
@click.option(
    "--until-idle",
    is_flag=True,
    help="Send everything that is due or running, then exit (for cron and tests).",
)
@pass_app
def run_cmd(app: AppContext, until_idle: bool) -> None:
    """Run the sender daemon: start due campaigns and send running ones.

    SIGTERM or SIGINT stops gracefully (in-flight messages finish and are recorded); a second
    one stops at once. SIGHUP reloads the settings (messengers, rates).
    """
    from campaignd.logs import setup_logging
    from campaignd.service import Daemon

    settings = app.settings
    setup_logging(settings.log)
    daemon = Daemon(settings, config_path=app.config_path, until_idle=until_idle)
    sys.exit(_run_loop(daemon.run(), settings.app.workers))


def _run_loop(coro: object, workers: int) -> int:
    try:
        import uvloop
    except ImportError:
        return int(asyncio.run(coro))  # type: ignore[arg-type]
    return int(uvloop.run(coro))  # type: ignore[arg-type]
