"""The `campaignd` command: global options, error handling and exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from campaignd import __version__
from campaignd.cli.common import AppContext
from campaignd.cli.lazy import LazyGroup
from campaignd.errors import CampaigndError, ConfigError

EX_CONFIG = 78  # sysexits.h: configuration error; systemd does not restart on it


# Each command group is imported when it is used: `campaigns ls` does not load the CSV importer,
# the template engine or the HTTP server (a third of the start-up time of every command).
@click.group(
    cls=LazyGroup,
    lazy={
        "db": "campaignd.cli.db:db",
        "lists": "campaignd.cli.lists:lists",
        "subscribers": "campaignd.cli.subscribers:subscribers",
        "templates": "campaignd.cli.templates:templates",
        "campaigns": "campaignd.cli.campaigns:campaigns",
        "messengers": "campaignd.cli.messengers:messengers",
        "run": "campaignd.cli.run:run_cmd",
        "optin": "campaignd.cli.optin:optin",
        "dkim": "campaignd.cli.dkim:dkim",
        "api-tokens": "campaignd.cli.apitokens:api_tokens",
        "bounces": "campaignd.cli.bounces:bounces",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CAMPAIGND_CONFIG",
    help="Settings file (TOML), here or after the command. Default: none; "
    "environment CAMPAIGND_CONFIG.",
)
@click.version_option(__version__, prog_name="campaignd")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """campaignd: send newsletters and campaigns through your SMTP providers."""
    given = ctx.get_parameter_source("config_path") is click.core.ParameterSource.COMMANDLINE
    ctx.obj = AppContext(config_path=config_path, config_given=given)


def main(argv: list[str] | None = None) -> None:
    """Entry point: every campaignd error becomes one line on stderr and an exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        cli.main(args=argv, prog_name="campaignd", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EX_CONFIG)
    except CampaigndError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
