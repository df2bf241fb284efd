"""`campaignd dkim check` as a real command: the record to publish and a local signing test."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def campaignd(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CAMPAIGND_")}
    return subprocess.run(
        [sys.executable, "-m", "campaignd", "dkim", "check", *args],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_key(
    path: Path, key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
) -> bytes:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(data)
    path.chmod(0o600)
    return data


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_check_prints_the_record_and_verifies_a_sample(tmp_path: Path, kind: str) -> None:
    key = (
        rsa.generate_private_key(65537, 2048)
        if kind == "rsa"
        else ed25519.Ed25519PrivateKey.generate()
    )
    path = tmp_path / "dkim.pem"
    pem = write_key(path, key)
    result = campaignd("Example.COM", "--selector", "news2026", "--key-file", str(path))
    assert result.returncode == 0, result.stderr
    algorithm = "rsa-sha256" if kind == "rsa" else "ed25519-sha256"
    assert f"{algorithm}, domain example.com, selector news2026" in result.stdout
    record = next(line.strip() for line in result.stdout.splitlines() if " IN TXT " in line)
    assert record.startswith(f'news2026._domainkey.example.com. IN TXT "v=DKIM1; k={kind}; p=')
    strings = re.findall(r'"([^"]*)"', record)
    assert all(len(s) <= 255 for s in strings)
    assert "signed and verified against this record: ok" in result.stdout
    # The printed record is the key's: a message signed by dkimpy with the same private key
    # verifies against it (dkimpy's Ed25519 keys are the raw 32 bytes, base64).
    message = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
    if kind == "rsa":
        header = dkim.sign(message, b"news2026", b"example.com", pem)
    else:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        header = dkim.sign(
            message,
            b"news2026",
            b"example.com",
            base64.b64encode(raw),
            signature_algorithm=b"ed25519-sha256",
        )
    txt = "".join(strings).encode()
    assert dkim.verify(header + message, dnsfunc=lambda name, timeout=5: txt)
    assert "PRIVATE" not in result.stdout + result.stderr


def test_check_json(tmp_path: Path) -> None:
    path = tmp_path / "dkim.pem"
    write_key(path, ed25519.Ed25519PrivateKey.generate())
    result = campaignd("example.com", "--selector", "s1", "--key-file", str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["verified"] is True
    assert out["problem"] is None
    assert out["record_name"] == "s1._domainkey.example.com"
    assert out["txt"].startswith("v=DKIM1; k=ed25519; p=")
    assert out["algorithm"] == "ed25519-sha256"
    assert out["dns_record"] == f'{out["record_name"]}. IN TXT "{out["txt"]}"'


@pytest.mark.parametrize(
    ("setup", "selector", "message"),
    [
        ("missing", "s1", "cannot be read: No such file or directory"),
        ("ec", "s1", "an EC key; DKIM signs with RSA (rsa-sha256) or Ed25519"),
        ("garbage", "s1", "not a PEM private key"),
        ("ed25519", "s1;x=y", "DKIM selector 's1;x=y'"),
    ],
)
def test_check_refuses_bad_input_in_one_line(
    tmp_path: Path, setup: str, selector: str, message: str
) -> None:
    path = tmp_path / "dkim.pem"
    if setup == "ec":
        write_key(path, ec.generate_private_key(ec.SECP256R1()))
    elif setup == "garbage":
        path.write_text("hello\n")
    elif setup == "ed25519":
        write_key(path, ed25519.Ed25519PrivateKey.generate())
    result = campaignd("example.com", "--selector", selector, "--key-file", str(path))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    if setup != "ed25519":
        assert str(path) in result.stderr
