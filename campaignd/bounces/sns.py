"""Amazon SNS message signatures (versions 1 and 2), checked before any SNS message is used.

The TopicArn is checked against the allow-list first: nothing is fetched for a topic that is not
ours. The signing certificate's URL comes from the message, so it is only fetched when it is an
https URL on an SNS host (``sns.<region>.amazonaws.com``, or ``sns.cn-<...>.amazonaws.com.cn``)
ending in .pem; the fetch itself is injected (tests give a local one). Verified certificates are
cached; failed fetches too, for a while (a negative cache), and new fetches are rationed, so a
caller cannot make us fetch over and over.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
import re
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from campaignd.errors import SnsSignatureError, SnsUnavailable

log = logging.getLogger(__name__)

#: A region is "xx-name-N" (us-east-1, us-gov-west-1, ap-southeast-2); China regions (cn-...)
#: live under .amazonaws.com.cn only. "sns.s3.amazonaws.com" and the like do not match.
_SNS_HOST = re.compile(
    r"^sns\.(?:(?!cn-)[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com"
    r"|cn-[a-z]+(?:-[a-z]+)*-\d{1,2}\.amazonaws\.com\.cn)$"
)
_PRINTABLE = re.compile(r"^[\x21-\x7e]{1,1024}$")
_MAX_CERT = 64 * 1024
_CACHE_SIZE = 32
#: A URL whose certificate could not be fetched or used is not tried again for this long.
FAILURE_TTL = dt.timedelta(minutes=5)
#: At most this many certificate fetches that did not give a usable certificate (or are still
#: running) per FETCH_WINDOW, whatever the URLs; a good fetch is cached and does not count.
FETCH_BUDGET = 10
FETCH_WINDOW = dt.timedelta(minutes=5)

_NOTIFICATION = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_FIELDS = {
    "Notification": _NOTIFICATION,
    "SubscriptionConfirmation": _CONFIRMATION,
    "UnsubscribeConfirmation": _CONFIRMATION,
}


def cert_url_allowed(url: str) -> bool:
    """True for https://sns.<region>.amazonaws.com[.cn]/....pem and nothing else."""
    if not _PRINTABLE.match(url):  # urlsplit would drop tabs and line breaks silently
        return False
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
    """Verifies SNS messages; holds a small cache of verified signing certificates and of
    recent fetch failures."""

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[bytes]] = fetch_https,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._fetch = fetch
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._keys: dict[str, tuple[rsa.RSAPublicKey, dt.datetime]] = {}
        self._failed: dict[str, tuple[dt.datetime, str]] = {}  # url -> (retry after, reason)
        self._fetches: list[dt.datetime] = []

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        now = self._clock()
        cached = self._keys.get(url)
        if cached is None:
            cached = await self._load(url, now)
        key, expires = cached
        if expires < now:
            self._keys.pop(url, None)
            raise SnsSignatureError("the SNS signing certificate has expired")
        return key

    async def _load(self, url: str, now: dt.datetime) -> tuple[rsa.RSAPublicKey, dt.datetime]:
        failed = self._failed.get(url)
        if failed is not None and failed[0] > now:
            raise SnsUnavailable(f"the SNS signing certificate failed recently: {failed[1]}")
        self._fetches = [t for t in self._fetches if t > now - FETCH_WINDOW]
        if len(self._fetches) >= FETCH_BUDGET:
            raise SnsUnavailable("too many SNS signing certificate fetches; try again later")
        self._fetches.append(now)
        key, expires = await self._fetch_key(url, now)
        if now in self._fetches:  # a usable certificate is cached: it cannot be made to repeat
            self._fetches.remove(now)
        return key, expires

    async def _fetch_key(self, url: str, now: dt.datetime) -> tuple[rsa.RSAPublicKey, dt.datetime]:
        try:
            pem = await self._fetch(url)
        except Exception as exc:  # any failure of the fetch (HTTP, TLS, DNS, ...) is one outcome
            reason = f"cannot fetch the SNS signing certificate: {_describe(exc)}"
            self._remember_failure(url, now, reason)
            raise SnsUnavailable(reason) from None
        try:
            cert = x509.load_pem_x509_certificate(pem)
            key, expires = cert.public_key(), cert.not_valid_after_utc
        except (TypeError, ValueError) as exc:
            self._remember_failure(url, now, "not a certificate")
            raise SnsSignatureError(f"the SNS signing certificate cannot be read: {exc}") from None
        if not isinstance(key, rsa.RSAPublicKey):
            self._remember_failure(url, now, "not an RSA certificate")
            raise SnsSignatureError("the SNS signing certificate is not an RSA certificate")
        self._failed.pop(url, None)
        if len(self._keys) >= _CACHE_SIZE:
            self._keys.pop(next(iter(self._keys)))
        self._keys[url] = (key, expires)
        return key, expires

    def _remember_failure(self, url: str, now: dt.datetime, reason: str) -> None:
        log.warning("SNS certificate %s: %s", url, reason, extra={"action": "webhook.sns_cert"})
        if len(self._failed) >= _CACHE_SIZE:
            self._failed.pop(next(iter(self._failed)))
        self._failed[url] = (now + FAILURE_TTL, reason)

    async def verify(self, message: Mapping[str, Any], topics: Collection[str]) -> None:
        """Return if `message` is for one of `topics` and signed by SNS, else raise
        SnsSignatureError (SnsUnavailable when the certificate cannot be had now)."""
        topic = message.get("TopicArn")
        if not isinstance(topic, str) or topic not in topics:
            raise SnsSignatureError(f"topic {str(topic)[:200]!r} is not in bounces.ses_topic_arns")
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


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
