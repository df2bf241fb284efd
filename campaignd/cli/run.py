"""`campaignd run`: the daemon (long-running, or until idle)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from campaignd.cli.common import AppContext, pass_app


@click.command()
@click.option(
    "--until-idle",
    is_flag=True,
    help="Send everything that is due or running, then exit (for cron and tests).",
)
@click.option("--worker", hidden=True, default="", help="INDEX:PARENT_PID (set by app.workers).")
@click.option(
    "--metrics-dir",
    hidden=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where a worker writes its metrics for the main process (set by app.workers).",
)
@pass_app
def run_cmd(app: AppContext, until_idle: bool, worker: str, metrics_dir: Path | None) -> None:
    """Run the sender daemon: start due campaigns and send running ones.

    SIGTERM or SIGINT stops gracefully (in-flight messages finish and are recorded); a second
    one stops at once. SIGHUP reloads the settings (messengers, rates).
    """
    from campaignd.daemon.logs import setup_logging
    from campaignd.daemon.service import Daemon

    settings = app.settings
    setup_logging(settings.log)
    Daemon.freeze_heap = True  # this process is the daemon's own
    count = settings.app.workers
    if worker or count > 1:  # several sending processes: campaignd.daemon.workers
        from campaignd.daemon import workers

        if worker:
            index, parent = (int(part) for part in worker.split(":"))
            workers.die_with_parent(parent)
            shared = workers.SharedDaemon(
                settings, index=index, count=count, config_path=app.config_path,
                until_idle=until_idle, metrics_dir=metrics_dir,
            )  # fmt: skip
            sys.exit(_run_loop(shared.run(), count))
        pool = workers.WorkerPool(count, app.config_path, until_idle)
        main = workers.SharedDaemon(
            settings, index=0, count=count, pool=pool, config_path=app.config_path,
            until_idle=until_idle,
        )  # fmt: skip
        sys.exit(_run_loop(workers.supervise(main), count))
    daemon = Daemon(settings, config_path=app.config_path, until_idle=until_idle)
    sys.exit(_run_loop(daemon.run(), settings.app.workers))


def _run_loop(coro: object, workers: int) -> int:
    try:
        import uvloop
    except ImportError:
        return int(asyncio.run(coro))  # type: ignore[arg-type]
    return int(uvloop.run(coro))  # type: ignore[arg-type]
