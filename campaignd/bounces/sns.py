"""Amazon SNS message signatures (versions 1 and 2), checked before any SNS message is used.

The signing certificate's URL comes from the message, so it is only fetched when it is an https
URL on an SNS host (``sns.<region>.amazonaws.com``, or ``.amazonaws.com.cn``) ending in .pem;
the fetch itself is injected (tests give a local one). Verified certificates are cached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import re
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from campaignd.errors import InvalidInput

_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_MAX_CERT = 64 * 1024
_CACHE_SIZE = 32

_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_FIELDS = {
    "Notification": _NOTIFICATION,
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}


class SnsSignatureError(InvalidInput):
    """The SNS message is not signed by Amazon SNS."""


def cert_url_allowed(url: str) -> bool:
    """True for https://sns.<region>.amazonaws.com[.cn]/....pem and nothing else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and _SNS_HOST.match(parts.hostname or "") is not None
        and parts.path.endswith(".pem")
        and not parts.query
        and not parts.fragment
    )


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical text SNS signs: "Key\\nvalue\\n" for the type's keys, in order; Subject
    only when present."""
    fields = _FIELDS.get(str(message.get("Type")))
    if fields is None:
        raise SnsSignatureError("unknown SNS message type")
    out = []
    for key in fields:
        value = message.get(key)
        if value is None and key == "Subject":
            continue
        if not isinstance(value, str):
            raise SnsSignatureError(f"SNS message without {key}")
        out.append(f"{key}\n{value}\n")
    return "".join(out).encode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """The checked URL is the one fetched: a redirect elsewhere is an error."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


async def fetch_https(url: str) -> bytes:
    """The default certificate fetcher: one bounded HTTPS GET in a thread."""

    def get() -> bytes:
        context = ssl.create_default_context()
        handler = urllib.request.HTTPSHandler(context=context)
        opener = urllib.request.build_opener(handler, _NoRedirect())
        with opener.open(url, timeout=10) as response:
            data: bytes = response.read(_MAX_CERT + 1)
        if len(data) > _MAX_CERT:
            raise SnsSignatureError("the SNS signing certificate is too large")
        return data

    return await asyncio.to_thread(get)


class SnsVerifier:
    """Verifies SNS messages; holds a small cache of verified signing certificates."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[bytes]] = fetch_https,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._keys: dict[str, tuple[rsa.RSAPublicKey, dt.datetime]] = {}

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        cached = self._keys.get(url)
        if cached is None:
            try:
                pem = await self._fetch(url)
                cert = x509.load_pem_x509_certificate(pem)
            except (OSError, ValueError) as exc:
                raise SnsSignatureError(f"cannot load the SNS signing certificate: {exc}") from exc
            key = cert.public_key()
            if not isinstance(key, rsa.RSAPublicKey):
                raise SnsSignatureError("the SNS signing certificate is not an RSA certificate")
            cached = (key, cert.not_valid_after_utc)
            if len(self._keys) >= _CACHE_SIZE:
                self._keys.pop(next(iter(self._keys)))
            self._keys[url] = cached
        key, expires = cached
        if expires < self._clock():
            self._keys.pop(url, None)
            raise SnsSignatureError("the SNS signing certificate has expired")
        return key

    async def verify(self, message: Mapping[str, Any]) -> None:
        """Return if `message` is signed by SNS, else raise SnsSignatureError."""
        version = message.get("SignatureVersion")
        algorithm: hashes.HashAlgorithm
        if version == "1":
            algorithm = hashes.SHA1()  # noqa: S303 - SNS signature version 1 is SHA1withRSA
        elif version == "2":
            algorithm = hashes.SHA256()
        else:
            raise SnsSignatureError("unsupported SNS signature version")
        url = message.get("SigningCertURL") or message.get("SigningCertUrl")
        if not isinstance(url, str) or not cert_url_allowed(url):
            raise SnsSignatureError("the signing certificate URL is not an SNS URL")
        signature = message.get("Signature")
        if not isinstance(signature, str):
            raise SnsSignatureError("SNS message without a signature")
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise SnsSignatureError("the SNS signature is not base64") from None
        data = string_to_sign(message)
        key = await self._key(url)
        try:
            key.verify(raw, data, padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise SnsSignatureError() from None
