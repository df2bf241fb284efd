"""`campaignd messengers ls` and `messengers test` run as real commands against aiosmtpd servers."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

SECRET = "very-secret-credential-42"


async def campaignd(
    config: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "campaignd",
        "--config",
        str(config),
        "messengers",
        *args,
        env={**clean, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    return json.dumps(value)


def write_config(path: Path, *servers: dict[str, Any]) -> Path:
    lines = ['[app]\nfrom_email = "News <news@example.org>"\n']
    for server in servers:
        lines.append("[[smtp]]")
        for key, value in server.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    return path


def submission(srv: SmtpTestServer, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": srv.port,
        "tls_type": "STARTTLS",
        "auth_protocol": "login",
        "username": "acme/production",
        "password": SECRET,
        "timeout": "2s",
    }
    values.update(kw)
    return values


async def test_ls_never_shows_a_password(tmp_path: Path, smtp_server: SmtpTestServer) -> None:
    config = write_config(
        tmp_path / "settings.toml",
        submission(smtp_server),
        submission(smtp_server, name="postmark", email_headers={"X-PM-Message-Stream": "bulk"}),
        submission(smtp_server, name="off", enabled=False, password=""),
    )
    code, out, err = await campaignd(config, "ls", "--json")
    assert code == 0, err
    assert SECRET not in out + err
    data = json.loads(out)
    by_name = {m["messenger"]: m["servers"] for m in data["messengers"]}
    assert set(by_name) == {"email", "postmark"}
    assert by_name["email"][0]["password"] == "set"
    assert by_name["postmark"][0]["email_headers"] == [
        {"name": "X-PM-Message-Stream", "value": "bulk"}
    ]
    assert data["disabled"][0]["password"] == "unset"

    code, out, err = await campaignd(config, "ls")
    assert code == 0, err
    assert SECRET not in out + err
    assert "messenger email:" in out
    assert "messenger postmark:" in out


async def test_test_walks_every_step_and_sends(
    tmp_path: Path, smtp_servers: Callable[..., Any], trusted_ca: Any
) -> None:
    srv = await smtp_servers(tls="starttls", users={"acme/production": SECRET})
    config = write_config(tmp_path / "settings.toml", submission(srv))
    code, out, err = await campaignd(
        config,
        "test",
        "--to",
        "you@example.net",
        env={"SSL_CERT_FILE": os.environ["SSL_CERT_FILE"]},
    )
    assert code == 0, out + err
    for step in ("connect", "greeting", "ehlo", "starttls", "auth", "send"):
        assert f"ok   {step}" in out
    assert "certificate verified" in out
    assert "LOGIN as acme/production" in out
    assert SECRET not in out + err
    [captured] = srv.messages
    assert captured.rcpt_tos == ("you@example.net",)
    assert captured.mail_from == "news@example.org"


async def test_test_says_what_to_fix(
    tmp_path: Path, smtp_servers: Callable[..., Any], trusted_ca: Any
) -> None:
    cert_env = {"SSL_CERT_FILE": os.environ["SSL_CERT_FILE"]}
    starttls = await smtp_servers(tls="starttls", users={"acme/production": SECRET})
    implicit = await smtp_servers(tls="implicit")
    gone = await smtp_servers()
    gone_port = gone.port
    await gone.stop()

    cases = [
        (submission(starttls, password="wrong"), "authentication failed", "check username"),
        (submission(starttls, tls_type="TLS"), "TLS handshake failed", 'tls_type = "STARTTLS"'),
        (submission(implicit, auth_protocol="none"), "no greeting", 'tls_type = "TLS"'),
        ({**submission(gone), "port": gone_port}, "refused", "check host and port"),
    ]
    for server, problem, fix in cases:
        config = write_config(tmp_path / "settings.toml", server)
        code, out, err = await campaignd(config, "test", env=cert_env)
        assert code == 1, out + err
        assert problem in out, out
        assert fix in out, out
        assert "1 of 1 servers failed" in err
        assert SECRET not in out + err


async def test_untrusted_certificate(tmp_path: Path, smtp_servers: Callable[..., Any]) -> None:
    srv = await smtp_servers(tls="starttls")  # the test CA is not trusted here
    config = write_config(tmp_path / "settings.toml", submission(srv, auth_protocol="none"))
    code, out, _ = await campaignd(config, "test")
    assert code == 1
    assert "certificate not trusted" in out
    assert "tls_skip_verify" in out


async def test_unknown_messenger_lists_the_configured_ones(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    config = write_config(tmp_path / "settings.toml", submission(smtp_server, name="ark"))
    code, _, err = await campaignd(config, "test", "sendgrid")
    assert code == 1
    assert "sendgrid" in err
    assert "ark" in err


def credential_forms(username: str, password: str) -> list[str]:
    """What a leak of the credentials could look like: the password, base64 of each part."""
    b64 = [
        base64.b64encode(raw).decode()
        for raw in (
            username.encode(),
            password.encode(),
            f"\0{username}\0{password}".encode(),
        )
    ]
    return [password, *b64, *(b.rstrip("=") for b in b64)]


async def test_test_redacts_credentials_a_server_echoes(
    tmp_path: Path, smtp_servers: Callable[..., Any]
) -> None:
    # A server on loopback may take AUTH without TLS; this one echoes the AUTH exchange back.
    srv = await smtp_servers(users={"acme/production": SECRET}, echo_auth=True)
    for mechanism in ("plain", "login", "cram"):
        config = write_config(
            tmp_path / "settings.toml",
            submission(srv, tls_type="none", auth_protocol=mechanism),
        )
        code, out, err = await campaignd(config, "test", env={"CAMPAIGND_LOG__LEVEL": "DEBUG"})
        assert code == 1, out + err
        assert "authentication failed: 535 5.7.8 rejected" in out, out
        assert "[redacted]" in out, out
        for form in credential_forms("acme/production", SECRET):
            assert form not in out + err, (mechanism, form, out + err)
        assert "check username (acme/production)" in out  # the name itself is no secret
