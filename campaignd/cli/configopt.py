"""`--config PATH` after a subcommand too: added to every command as it is loaded."""

from __future__ import annotations

from pathlib import Path

import click

from campaignd.cli.common import AppContext

#: The parameter name of the copy added to subcommands (the group's own is "config_path").
_NAME = "config_after"


def _set_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is None:
        return
    app = ctx.find_object(AppContext)
    if app is not None:
        app.use_config(value)


def add_config_option(command: click.Command) -> click.Command:
    """Give `command` (and a group's commands) a `--config PATH` option; idempotent."""
    if not any(p.name in (_NAME, "config_path") for p in command.params):
        command.params.append(
            click.Option(
                ["--config", _NAME],
                type=click.Path(path_type=Path, dir_okay=False),
                expose_value=False,
                callback=_set_config,
                help="Settings file (TOML); the same as `campaignd --config PATH ...`.",
            )
        )
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_config_option(sub)
    return command
