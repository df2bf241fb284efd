"""`campaignd messengers`: list the configured messengers and test their SMTP servers."""

from __future__ import annotations

from email.utils import parseaddr
from typing import Any

import click

from campaignd.cli.common import AppContext, async_command, pass_app, print_json, print_table
from campaignd.config import Settings, SmtpSettings
from campaignd.errors import MessengerError
from campaignd.messengers.check import Step, check_server
from campaignd.messengers.protocol import Sign
from campaignd.messengers.registry import check_messenger
from campaignd.messengers.server import SmtpServer
from campaignd.rendering.dkim import DkimSigner, signer_from_settings


def server_view(index: int, s: SmtpSettings) -> dict[str, Any]:
    """A server's settings for display: never the password, only whether one is set."""
    return {
        "key": f"smtp[{index}]",
        "label": s.label,
        "name": s.name,
        "enabled": s.enabled,
        "in_pool": s.in_pool,
        "host": s.host,
        "port": s.port,
        "tls_type": s.tls_type.value,
        "tls_skip_verify": s.tls_skip_verify,
        "allow_plaintext_auth": s.allow_plaintext_auth,
        "auth_protocol": s.auth_protocol.value,
        "username": s.username,
        "password": "set" if s.password.get_secret_value() else "unset",
        "password_file": str(s.password_file) if s.password_file else None,
        "hello_hostname": s.hello_hostname,
        "max_conns": s.max_conns,
        "idle_timeout": s.idle_timeout,
        "wait_timeout": s.wait_timeout,
        "timeout": s.timeout,
        "max_msg_retries": s.max_msg_retries,
        "msg_retry_delay": s.msg_retry_delay,
        "max_rate": s.max_rate,
        "email_headers": [{"name": h.name, "value": h.value} for h in s.email_headers],
    }


def _index(settings: Settings, server: SmtpSettings) -> int:
    return next(i for i, s in enumerate(settings.smtp) if s is server)


@click.group()
def messengers() -> None:
    """List messengers and test their SMTP servers."""


@messengers.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def ls_cmd(app: AppContext, as_json: bool) -> None:
    """Messengers, their servers and settings (passwords are shown only as set/unset)."""
    settings = app.settings
    listing: list[dict[str, Any]] = [
        {
            "messenger": name,
            "servers": [server_view(_index(settings, s), s) for s in servers],
        }
        for name, servers in sorted(settings.messengers().items())
    ]
    disabled = [server_view(i, s) for i, s in enumerate(settings.smtp) if not s.enabled]
    if as_json:
        print_json({"messengers": listing, "disabled": disabled})
        return
    if not listing and not disabled:
        click.echo("no SMTP servers configured: add [[smtp]] to settings.toml")
        return
    for entry in listing:
        click.echo(f"messenger {entry['messenger']}:")
        _server_table(entry["servers"])
        click.echo()
    if disabled:
        click.echo("disabled:")
        _server_table(disabled)


def _server_table(views: list[dict[str, Any]]) -> None:
    columns = ("label", "host", "port", "tls_type", "auth_protocol", "username", "password")
    extra = ("max_conns", "max_rate", "max_msg_retries", "timeout")
    rows = [
        [
            *(v[c] for c in columns),
            *(v[c] for c in extra),
            ", ".join(f"{h['name']}: {h['value']}" for h in v["email_headers"]) or "-",
        ]
        for v in views
    ]
    headers = ("server", "host", "port", "tls", "auth", "username", "password")
    print_table([*headers, "conns", "rate", "retries", "timeout", "headers"], rows)


def _print_dkim(dkim: DkimSigner | None, sender: str) -> Sign | None:
    """Each [[dkim]] key and the DNS record to publish for it; the sender domain's signer."""
    if dkim is None:
        return None
    for key in dkim.keys.values():
        click.echo(f"DKIM {key.domain}: {key.algorithm}, selector {key.selector} ({key.source})")
        click.echo(f"  publish: {key.dns_record()}")
    signer = dkim.for_campaign(parseaddr(sender)[1].rpartition("@")[2])
    return None if signer is None else signer.sign


def _print_step(step: Step) -> None:
    mark = "ok  " if step.ok else "FAIL"
    click.echo(f"  {mark} {step.name:<9} {step.detail}")
    if step.hint:
        click.echo(f"       fix: {step.hint}")


@messengers.command("test")
@click.argument("name", required=False)
@click.option("--to", "to", help="Also send a real test message to this address.")
@click.option("--from", "sender", help="Envelope and From address (default: app.from_email).")
@pass_app
@async_command
async def test_cmd(app: AppContext, name: str | None, to: str | None, sender: str | None) -> None:
    """Connect to each server of NAME (default: all) step by step; with --to, send a message."""
    settings = app.settings
    if name is not None:
        check_messenger(settings, name)
        entries = list(settings.messengers()[name])
    else:
        entries = [s for s in settings.smtp if s.enabled]
    if not entries:
        raise MessengerError("no SMTP servers configured: add [[smtp]] to settings.toml")
    sender = sender or settings.app.from_email
    dkim = signer_from_settings(settings.dkim)  # a bad key: exit 78 before any connection
    sign = _print_dkim(dkim, sender)
    failed: list[str] = []
    for entry in entries:
        index = _index(settings, entry)
        server = SmtpServer(entry, key=f"smtp[{index}]")
        click.echo(f"{server.label} (smtp[{index}], {entry.host}:{entry.port}):")
        result = await check_server(server, to=to, sender=sender, on_step=_print_step, sign=sign)
        await server.close()
        if not result.ok:
            failed.append(server.label)
    if failed:
        raise MessengerError(f"{len(failed)} of {len(entries)} servers failed: {', '.join(failed)}")
    click.echo(f"all {len(entries)} servers ok")
