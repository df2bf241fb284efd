"""DKIM signatures (RFC 6376, relaxed/relaxed) with RSA-SHA256 or Ed25519-SHA256 (RFC 8463).

One key per From domain, with its selector: ``DkimKey.load`` reads and checks it (the only file
read in rendering/), ``DkimSigner(keys).for_campaign(from_domain)`` settles once per campaign
what does not change between messages (the key object, the header names, the tag text), and
``CampaignSigner.sign(message)`` prepends the DKIM-Signature header to one message.
The messenger awaits ``CampaignSigner.offloaded(message)`` instead: the same bytes, signed in
the DkimSigner's signer processes (campaignd.rendering.dkim_pool), off the sending process.

What is signed: the headers of ``DEFAULT_HEADERS`` (or the campaign's list) that the message
has, every instance of each, plus From once more than it has ("oversigning": a From added on the
way breaks the signature). Headers added later (Received) do not break it, but nor are they
covered; a change to a signed header or to the body, or a second From, breaks it. So the
messenger signs the message as it will go on the wire: after the server's ``email_headers`` are
merged, before dot-stuffing. ``CampaignSigner.sign`` may run in several threads at once: its
caches only ever hold values derived from their keys.

Canonicalisation is done here rather than with dkimpy: dkimpy's sign parses the whole message
in Python per call (measured in docs/providers.md); the signature primitives are the
``cryptography`` package's. Line ends are made CRLF first, as the SMTP layer does
(``messengers.envelope.wire_payload``), so the signed bytes are the sent bytes.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from campaignd.addresses import smtp_address
from campaignd.config import DkimSettings
from campaignd.errors import ConfigError, DkimKeyError, InvalidAddress, InvalidInput
from campaignd.rendering.dkim_canon import relaxed_body, relaxed_header
from campaignd.rendering.dkim_pool import SignerPool

log = logging.getLogger(__name__)

#: Signed when present (Gmail/Yahoo bulk-sender rules: From, the MIME headers, one-click
#: unsubscribe). A name given twice is also oversigned: From cannot be added after signing.
DEFAULT_HEADERS: tuple[str, ...] = (
    "From",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
    "Feedback-ID",
)
MIN_RSA_BITS = 1024  # RFC 8301: verifiers must not accept less
WARN_RSA_BITS = 2048
TXT_CHUNK = 255  # one character-string of a TXT record

_SELECTOR = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9_-]{1,63})*")
_FIELD_NAME = re.compile(r"[!-9;-~]{1,76}")
_WSP = re.compile(rb"[ \t]+")
_BARE_EOL = re.compile(rb"(?<!\r)\n|\r(?!\n)")
FIELD_START = re.compile(rb"\r\n(?![ \t])")
_SIG_WIDTH = 72  # characters of the b= value per folded line


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A From domain's signing key: ``domain`` in ASCII (IDNA), ``selector``, the parsed key."""

    domain: str
    selector: str
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    source: str = "<key>"  # where it came from, for messages (a path, never the key)

    @classmethod
    def load(cls, domain: str, selector: str, key: Path | str | bytes) -> DkimKey:
        """Read a PEM private key (a file path, or the PEM text itself) and check it; raise
        DkimKeyError naming the file. RSA below 1024 bits is refused, below 2048 warned."""
        if isinstance(key, Path):
            source = str(key)
            try:
                pem = key.read_bytes()
            except OSError as exc:
                raise DkimKeyError(
                    f"DKIM key {source} cannot be read: {exc.strerror or exc}"
                ) from exc
        else:
            source = "<PEM text>"
            pem = key.encode("utf-8") if isinstance(key, str) else key
        return cls.from_pem(domain, selector, pem, source)

    @classmethod
    def from_pem(
        cls, domain: str, selector: str, pem: bytes, source: str = "<PEM text>"
    ) -> DkimKey:
        ascii_domain = _check_domain(domain)
        if len(selector) > 63 or not _SELECTOR.fullmatch(selector):
            raise DkimKeyError(
                f"DKIM selector {selector!r} for {domain}: use DNS labels (letters, digits, "
                "'-', '_', dots between labels)"
            )
        private_key = _parse_key(pem, source)
        if isinstance(private_key, rsa.RSAPrivateKey):
            bits = private_key.key_size
            if bits < MIN_RSA_BITS:
                raise DkimKeyError(
                    f"DKIM key {source}: RSA with {bits} bits is refused by receivers "
                    f"(RFC 8301 needs at least {MIN_RSA_BITS}); generate a 2048-bit key"
                )
            if bits < WARN_RSA_BITS:
                log.warning(
                    "DKIM key %s: RSA with %d bits; use %d (Gmail and Yahoo expect it)",
                    source,
                    bits,
                    WARN_RSA_BITS,
                    extra={"action": "dkim.weak_key"},
                )
        return cls(ascii_domain, selector.lower(), private_key, source)

    def pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (to load it in the signer process)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def algorithm(self) -> str:
        """The a= tag: rsa-sha256 or ed25519-sha256."""
        return "rsa-sha256" if isinstance(self.private_key, rsa.RSAPrivateKey) else "ed25519-sha256"

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def txt_value(self) -> str:
        """The TXT record's text, unsplit: ``v=DKIM1; k=rsa; p=...``."""
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            kind = "rsa"
            raw = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        else:
            kind = "ed25519"
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode('ascii')}"

    def dns_record(self) -> str:
        """The record to publish, zone-file style, its text split in 255-character strings."""
        value = self.txt_value()
        parts = [value[i : i + TXT_CHUNK] for i in range(0, len(value), TXT_CHUNK)]
        return f"{self.record_name}. IN TXT " + " ".join(f'"{p}"' for p in parts)


def _check_domain(domain: str) -> str:
    try:
        return smtp_address(f"dkim@{domain}").text.rpartition("@")[2]
    except InvalidAddress as exc:
        raise DkimKeyError(f"DKIM domain {domain!r} is not a domain name") from exc


def _parse_key(pem: bytes, source: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    if b"-----BEGIN" not in pem:
        raise DkimKeyError(f"DKIM key {source}: not a PEM private key (-----BEGIN ... KEY-----)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as exc:  # encrypted, and no password given
        raise DkimKeyError(
            f"DKIM key {source} is encrypted: store it without a passphrase (chmod 600)"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise DkimKeyError(f"DKIM key {source} is not a valid PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise DkimKeyError(
            f"DKIM key {source}: an {type(key).__name__.removesuffix('PrivateKey')} key; DKIM "
            "signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)"
        )
    return key


def signer_from_settings(entries: Sequence[DkimSettings]) -> DkimSigner | None:
    """The [[dkim]] keys parsed and checked (at start, before anything is sent); None when
    there are none. ConfigError naming ``dkim[i]`` and the key's path, never its text."""
    keys: list[DkimKey] = []
    for i, entry in enumerate(entries):
        try:
            pem = entry.private_key.get_secret_value().encode("ascii")
            keys.append(
                DkimKey.from_pem(entry.domain, entry.selector, pem, str(entry.private_key_file))
            )
        except DkimKeyError as exc:
            raise ConfigError(f"dkim[{i}]", str(exc)) from None
    try:
        return DkimSigner(keys) if keys else None
    except DkimKeyError as exc:
        raise ConfigError("dkim", str(exc)) from None


class DkimSigner:
    """The configured keys by From domain; one `CampaignSigner` per campaign. Owns the signer
    processes of its campaign signers' `offloaded` (`processes`, default one per core up to 4,
    each started at its first batch): `close` stops them, and so does dropping the last
    reference to them (a reload keeps the old ones for the campaigns that started with them)."""

    def __init__(self, keys: Iterable[DkimKey], processes: int | None = None) -> None:
        self._keys: dict[str, DkimKey] = {}
        for key in keys:
            if key.domain in self._keys:
                raise DkimKeyError(f"DKIM domain {key.domain} has two keys: keep one")
            self._keys[key.domain] = key
        pems = [(k.domain, k.selector, k.pem()) for k in self._keys.values()]
        self.pool = SignerPool("campaignd.rendering.dkim_signer", pems, processes)

    @property
    def keys(self) -> Mapping[str, DkimKey]:
        return self._keys

    def __bool__(self) -> bool:
        return bool(self._keys)

    def for_campaign(
        self, from_domain: str, signed_headers: Sequence[str] = DEFAULT_HEADERS
    ) -> CampaignSigner | None:
        """The signer for mail From `from_domain` (exact domain, any case, IDNA or Unicode);
        None when no key is configured for it (the mail goes unsigned)."""
        if not self._keys:
            return None
        try:
            domain = _check_domain(from_domain)
        except DkimKeyError:
            return None
        key = self._keys.get(domain)
        return None if key is None else CampaignSigner(key, signed_headers, self.pool)

    def close(self) -> None:
        """Stop the signer processes (waits for them to exit); later offloaded signatures fail."""
        self.pool.close()


class CampaignSigner:
    """Signs one campaign's messages with one key; everything per campaign is computed here."""

    def __init__(
        self,
        key: DkimKey,
        signed_headers: Sequence[str] = DEFAULT_HEADERS,
        pool: SignerPool | None = None,
    ) -> None:
        self.key = key
        self._pool = pool
        self._id = (key.domain, tuple(signed_headers))  # the same signer in the signer process
        names: list[str] = []
        counts: dict[str, int] = {}
        for name in signed_headers:
            if not _FIELD_NAME.fullmatch(name):
                raise InvalidInput(f"DKIM signed header {name!r} is not a header name")
            lowered = name.lower()
            counts[lowered] = counts.get(lowered, 0) + 1
            if counts[lowered] == 1:
                names.append(lowered)
        if "from" not in counts:
            raise InvalidInput("DKIM signed headers must include From (RFC 6376 5.4)")
        self._names = tuple(n.encode("ascii") for n in names)
        self._wanted = frozenset(self._names)
        self._oversigned = frozenset(n.encode("ascii") for n, c in counts.items() if c > 1)
        self._rsa = key.private_key if isinstance(key.private_key, rsa.RSAPrivateKey) else None
        self._ed = (
            key.private_key if isinstance(key.private_key, ed25519.Ed25519PrivateKey) else None
        )
        self._padding = padding.PKCS1v15()
        self._prehashed = Prehashed(hashes.SHA256())
        self._tags = (
            f"v=1; a={key.algorithm}; c=relaxed/relaxed;\r\n\td={key.domain}; s={key.selector};"
        )
        self._h_cache: dict[tuple[bytes, ...], tuple[bytes, bytes]] = {}
        # Canonical header lines by field: From, Date, Subject, the MIME headers repeat from one
        # message to the next; To, Message-ID, List-Unsubscribe miss (and clear it now and then).
        self._canonical: dict[bytes, bytes] = {}

    def __call__(self, message: bytes) -> bytes:
        return self.sign(message)

    def sign(self, message: bytes) -> bytes:
        """The message (line ends made CRLF) with a DKIM-Signature header in front."""
        message = crlf(message)
        return self.header(message) + message

    async def offloaded(self, message: bytes) -> bytes:
        """What `sign` returns, signed in a signer process (in this one when there is no pool,
        as for a CampaignSigner made directly). DkimSigningFailed if that process fails."""
        if self._pool is None:
            return self.sign(message)
        answer = await self._pool.signature(self._id, message)
        if isinstance(answer, bytes):  # the header: the message had CRLF line ends
            return answer + message
        header, fixed = cast(tuple[bytes, bytes], answer)
        return header + fixed

    def header(self, message: bytes) -> bytes:
        """The DKIM-Signature header line (folded, CRLF-terminated) of a CRLF `message`."""
        end = message.find(b"\r\n\r\n")
        if end < 0:
            head, body = (message[:-2], b"") if message.endswith(b"\r\n") else (message, b"")
        else:
            head, body = message[:end], message[end + 4 :]
        body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest())
        fields: dict[bytes, list[bytes]] = {}
        wanted = self._wanted
        for field in FIELD_START.split(head):
            colon = field.find(b":")
            name = field[:colon].rstrip(b" \t").lower()
            if colon > 0 and name in wanted:
                fields.setdefault(name, []).append(field)
        signed: list[bytes] = []
        canonical: list[bytes] = []
        cache = self._canonical
        for name in self._names:
            present = fields.get(name, ())
            for field in reversed(present):  # the last instance first (RFC 6376 5.4.2)
                line = cache.get(field)
                if line is None:
                    line = relaxed_header(name, field)
                    if len(cache) > 64:
                        cache.clear()
                    cache[field] = line
                canonical.append(line)
            signed.extend([name] * (len(present) + (name in self._oversigned)))
        head_text, canon = self._header_template(tuple(signed))
        canonical += (canon, body_hash, b"; b=")
        digest = hashlib.sha256(b"".join(canonical))
        signature = base64.b64encode(self._sign_digest(digest.digest())).decode("ascii")
        folded = "\r\n\t".join(
            signature[i : i + _SIG_WIDTH] for i in range(0, len(signature), _SIG_WIDTH)
        )
        return b"".join((head_text, body_hash, b";\r\n\tb=", folded.encode("ascii"), b"\r\n"))

    def _sign_digest(self, digest: bytes) -> bytes:
        if self._rsa is not None:
            return self._rsa.sign(digest, self._padding, self._prehashed)
        assert self._ed is not None
        return self._ed.sign(digest)  # RFC 8463: Ed25519 over the SHA-256 hash

    def _header_template(self, signed: tuple[bytes, ...]) -> tuple[bytes, bytes]:
        """(the header text up to "bh=", its relaxed form): per set of headers, remembered."""
        cached = self._h_cache.get(signed)
        if cached is None:
            h_tag = _fold_list([name.decode("ascii") for name in signed])
            text = f"DKIM-Signature: {self._tags}\r\n\th={h_tag};\r\n\tbh=".encode("ascii")
            value = text[len(b"DKIM-Signature:") :]
            canon = b"dkim-signature:" + _WSP.sub(b" ", value.replace(b"\r\n", b"")).lstrip(b" ")
            cached = (text, canon)
            if len(self._h_cache) > 16:
                self._h_cache.clear()
            self._h_cache[signed] = cached
        return cached


def crlf(message: bytes) -> bytes:
    """`message` with every line end CRLF, as the SMTP layer sends it."""
    ends = message.count(b"\r\n")
    if message.count(b"\n") != ends or message.count(b"\r") != ends:
        return _BARE_EOL.sub(b"\r\n", message)
    return message


# -- in the signer process (campaignd.rendering.dkim_signer) ----------------------------------
_process_keys: dict[str, DkimKey] = {}
_process_signers: dict[tuple[str, tuple[str, ...]], CampaignSigner] = {}


def load_keys(pems: Sequence[tuple[str, str, bytes]]) -> None:
    """The signer process's keys, parsed once when it starts."""
    for domain, selector, pem in pems:
        _process_keys[domain] = DkimKey.from_pem(domain, selector, pem)


def sign_batch(
    jobs: Sequence[tuple[tuple[str, tuple[str, ...]], list[bytes]]],
) -> list[list[bytes | tuple[bytes, bytes]]]:
    """Per (domain, signed headers), its messages' DKIM-Signature headers; for a message with
    other line ends than CRLF, (the header, the message with CRLF line ends). Checking the line
    ends here keeps three passes over each message off the sending process's event loop."""
    answers: list[list[bytes | tuple[bytes, bytes]]] = []
    for signer_id, messages in jobs:
        signer = _process_signers.get(signer_id)
        if signer is None:
            domain, names = signer_id
            signer = _process_signers[signer_id] = CampaignSigner(_process_keys[domain], names)
        answer: list[bytes | tuple[bytes, bytes]] = []
        for message in messages:
            fixed = crlf(message)
            header = signer.header(fixed)
            answer.append(header if fixed is message else (header, fixed))
        answers.append(answer)
    return answers


def _fold_list(names: Sequence[str]) -> str:
    lines: list[str] = []
    line = ""
    for name in names:
        piece = f"{name}" if not line else f":{name}"
        if line and len(line) + len(piece) > 66:
            lines.append(line + ":")
            line = name
        else:
            line += piece
    lines.append(line)
    return "\r\n\t ".join(lines)
