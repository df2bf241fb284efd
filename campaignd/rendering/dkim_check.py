"""Checking a DKIM signature against a TXT record locally, and a sample message to sign.

For `campaignd dkim check`: the key, the record to publish and the signer agree, with no DNS
lookup. It verifies what campaignd.rendering.dkim signs (relaxed/relaxed, rsa-sha256 or
ed25519-sha256); the tests use dkimpy as the independent verifier.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from email.utils import format_datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from campaignd.rendering.dkim import FIELD_START
from campaignd.rendering.dkim_canon import relaxed_body, relaxed_header

_TAG_B = re.compile(rb"(^|;)([ \t\r\n]*b[ \t\r\n]*=)[^;]*")
_FWS = re.compile(r"[ \t\r\n]+")


def signature_problem(message: bytes, txt_value: str) -> str | None:
    """Check the first DKIM-Signature of `message` (as `sign` makes them: relaxed/relaxed)
    against a published TXT record's text; None when it verifies, else why not. For
    `campaignd dkim check`: the key, the record and the signer agree. No DNS lookup."""
    end = message.find(b"\r\n\r\n")
    head, body = (message, b"") if end < 0 else (message[:end], message[end + 4 :])
    fields = FIELD_START.split(head)
    sig_field = next((f for f in fields if f[:15].lower() == b"dkim-signature:"), None)
    if sig_field is None:
        return "the message has no DKIM-Signature header"
    tags = _tag_list(sig_field[15:].decode("ascii", "replace"))
    record = _tag_list(txt_value)
    if tags.get("c") != "relaxed/relaxed":
        return f"canonicalisation {tags.get('c')!r} is not relaxed/relaxed"
    bh = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode("ascii")
    if tags.get("bh") != bh:
        return "the body hash (bh=) does not match the body"
    by_name: dict[bytes, list[bytes]] = {}
    for field in fields:
        by_name.setdefault(field[: field.find(b":")].rstrip(b" \t").lower(), []).append(field)
    digest = hashlib.sha256()
    for name in tags.get("h", "").lower().encode("ascii", "replace").split(b":"):
        present = by_name.get(name)
        if present:
            digest.update(relaxed_header(name, present.pop()))
    unsigned = _TAG_B.sub(rb"\1\2", sig_field[15:])
    digest.update(relaxed_header(b"dkim-signature", b":" + unsigned)[:-2])
    try:
        signature = base64.b64decode(tags.get("b", ""), validate=True)
        public = base64.b64decode(record.get("p", ""), validate=True)
        if tags.get("a") == "ed25519-sha256" and record.get("k") == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, digest.digest())
        elif tags.get("a") == "rsa-sha256" and record.get("k", "rsa") == "rsa":
            rsa_key = serialization.load_der_public_key(public)
            if not isinstance(rsa_key, rsa.RSAPublicKey):
                return "the record's p= is not an RSA public key"
            rsa_key.verify(
                signature, digest.digest(), padding.PKCS1v15(), Prehashed(hashes.SHA256())
            )
        else:
            return (
                f"the signature's a={tags.get('a')} does not fit the record's k={record.get('k')}"
            )
    except InvalidSignature:
        return "the signature does not verify with the record's public key"
    except (ValueError, UnsupportedAlgorithm) as exc:
        return f"the signature or the record's key cannot be decoded: {exc}"
    return None


def _tag_list(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            tags[_FWS.sub("", name)] = _FWS.sub("", value)
    return tags


def sample_message(domain: str, now: dt.datetime) -> bytes:
    """A two-part message From `domain` with every header DKIM signs, for `dkim check`."""
    addr = f"dkim-check@{domain}"
    boundary = "=_cd_dkim_check"
    return (
        f"Date: {format_datetime(now)}\r\n"
        f"From: DKIM check <{addr}>\r\n"
        f"To: Subscriber <subscriber@example.com>\r\n"
        f"Subject: =?utf-8?b?{base64.b64encode('DKIM check: é ✓'.encode()).decode()}?=\r\n"
        f"Message-ID: <dkim-check.{int(now.timestamp())}@{domain}>\r\n"
        "MIME-Version: 1.0\r\n"
        f"List-Unsubscribe: <https://{domain}/unsubscribe/sample>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        f"Reply-To: <{addr}>\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Hello,  this is a sample  message.\r\n.a line starting with a dot\r\nÉté\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "<p>Hello, this is a sample message.</p>\r\n"
        f"--{boundary}--\r\n"
    ).encode()
