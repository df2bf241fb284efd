"""[[dkim]] keys as the real commands see them: `messengers test` prints the record to publish
and signs its test message; an unreadable or broken key stops `messengers test` and `run` with
exit 78 naming the key file, never printing the key."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support import SmtpTestServer

pytest_plugins = ["tests.support.fixtures"]

BROKEN = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END PRIVATE KEY-----\n"


async def campaignd(config: Path, *args: str) -> tuple[int, str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "campaignd",
        "--config",
        str(config),
        *args,
        env=clean,
        cwd=config.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def write_config(tmp_path: Path, port: int, key_file: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        f"""
[app]
from_email = "News <news@example.org>"
[security]
secret = "{"s" * 32}"
[db]
url = "sqlite:///c.db"
[[smtp]]
host = "127.0.0.1"
port = {port}
tls_type = "none"
auth_protocol = "none"
[[dkim]]
domain = "example.org"
selector = "s2026"
private_key_file = "{key_file}"
"""
    )
    path.chmod(0o600)
    return path


async def test_messengers_test_prints_the_record_and_signs(
    tmp_path: Path, smtp_server: SmtpTestServer
) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    config = write_config(tmp_path, smtp_server.port, key_file)
    code, out, err = await campaignd(config, "messengers", "test", "--to", "me@example.net")
    assert code == 0, err
    assert f"DKIM example.org: ed25519-sha256, selector s2026 ({key_file})" in out
    record = next(line for line in out.splitlines() if "publish:" in line)
    assert 's2026._domainkey.example.org. IN TXT "v=DKIM1; k=ed25519; p=' in record
    txt = record.split(" IN TXT ", 1)[1].replace('" "', "").strip('"')

    [message] = smtp_server.messages
    assert message.data.startswith(b"DKIM-Signature: ")
    assert dkim.verify(message.data, dnsfunc=lambda name, timeout=5: txt.encode())


@pytest.mark.parametrize("problem", ["missing", "broken"])
@pytest.mark.parametrize("command", [("messengers", "test"), ("run", "--until-idle")])
async def test_a_bad_key_exits_78_naming_the_file(
    tmp_path: Path, smtp_server: SmtpTestServer, problem: str, command: tuple[str, ...]
) -> None:
    key_file = tmp_path / "dkim.pem"
    if problem == "broken":
        key_file.write_text(BROKEN)
    config = write_config(tmp_path, smtp_server.port, key_file)
    code, out, err = await campaignd(config, *command)
    assert code == 78, (out, err)
    assert "dkim[0]" in err and str(key_file) in err
    assert "c2VjcmV0" not in out + err
    assert smtp_server.total_connections == 0 and smtp_server.messages == []
