"""SIGHUP re-reads [[dkim]] and app.claim_lease: a good key is used by campaigns started from
then on; a broken one refuses the reload and keeps the old keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from campaignd.config import load_settings
from campaignd.daemon.service import Daemon
from campaignd.domain import utcnow
from campaignd.sending.engine import Engine
from campaignd.store.memory import MemoryStore


def write(tmp_path: Path, key_file: Path | None, lease: str = "10m") -> Path:
    dkim = (
        f'[[dkim]]\ndomain = "example.com"\nselector = "s1"\nprivate_key_file = "{key_file}"\n'
        if key_file is not None
        else ""
    )
    path = tmp_path / "settings.toml"
    path.write_text(f'[app]\nclaim_lease = "{lease}"\n[security]\nsecret = "{"s" * 32}"\n{dkim}')
    path.chmod(0o600)
    return path


def key(tmp_path: Path) -> Path:
    path = tmp_path / "dkim.pem"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


async def test_reload_applies_a_good_key_and_refuses_a_broken_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = write(tmp_path, None)
    first = load_settings(config, env={})
    daemon = Daemon(first, config_path=config, store=MemoryStore(), messengers=lambda _: {})
    daemon.engine = Engine(MemoryStore(), first.app, "s" * 32, "test", {}, utcnow)
    assert daemon.engine.dkim is None

    write(tmp_path, key(tmp_path), lease="2m")
    daemon.reload()
    assert daemon.engine.dkim is not None and set(daemon.engine.dkim.keys) == {"example.com"}
    assert daemon._sweep.app.claim_lease == 120.0
    good = daemon.engine.dkim

    (tmp_path / "dkim.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    daemon.reload()
    assert daemon.engine.dkim is good
    assert "reload refused" in caplog.text and "dkim[0]" in caplog.text
    assert str(tmp_path / "dkim.pem") in caplog.text
