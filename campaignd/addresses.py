"""Email addresses: validation and normalisation without DNS, and their form on the wire.

The one place addresses are checked and encoded: imports and the CLI store `normalize_email`'s
form; the SMTP envelope and the address headers use `smtp_address`'s (IDNA 2008 / UTS 46
domains, as email-validator encodes them).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_domain_name, validate_email_local_part

from campaignd.errors import InvalidAddress

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_OCTETS = 64  # RFC 5321 4.5.3.1.1; servers refuse longer ones at RCPT
MAX_NAME_LENGTH = 256

# The common case in one regular expression: an ASCII dot-atom local part of at most 64
# characters that is not an RFC 2142 name (the library lowercases those), and a host name of at
# most 63 characters (so no label can be too long) made of labels without "--" (punycode and
# reserved forms), whose top-level label ends with a letter and is not a special-use name.
# Anything else goes to email-validator; tests/unit/test_addresses.py checks they agree.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"  # runs, not one group per character: faster
_RFC2142 = (
    "info|marketing|sales|support|abuse|noc|security"
    "|postmaster|hostmaster|usenet|news|webmaster|www|uucp|ftp"
)
_SPECIAL_USE = "arpa|invalid|local|localhost|onion|test"
_FAST = re.compile(
    rf"(?=[^@]{{1,64}}@)(?!(?i:{_RFC2142})@)"
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@"
    rf"(?=.{{1,63}}\Z)((?:{_LABEL}\.)+(?!(?i:{_SPECIAL_USE})\Z)(?:[A-Za-z0-9]+-)*[A-Za-z0-9]*[A-Za-z])",
    re.ASCII,
)

_NAME_SEPARATORS = str.maketrans("._-", "   ")


# The same grammar in two halves, so that the domain (repeated across a list: gmail.com...)
# is settled once and remembered, and only the local part is matched per address.
_FAST_LOCAL = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*", re.ASCII)
_FAST_DOMAIN = re.compile(
    rf"(?=.{{1,63}}\Z)(?:{_LABEL}\.)+(?!(?i:{_SPECIAL_USE})\Z)(?:[A-Za-z0-9]+-)*[A-Za-z0-9]*[A-Za-z]",
    re.ASCII,
)
_RFC2142_NAMES = frozenset(_RFC2142.split("|"))
_DOMAIN_CACHE_SIZE = 4096  # domains remembered (a few hundred KB at most)
_domains: dict[str, str | None] = {}


def _fast_domain(domain: str) -> str | None:
    """The lowercased domain if the strict grammar accepts it, else None; remembered."""
    try:
        return _domains[domain]
    except KeyError:
        pass
    result = domain.lower() if _FAST_DOMAIN.fullmatch(domain) else None
    if len(_domains) >= _DOMAIN_CACHE_SIZE:
        _domains.clear()
    _domains[domain] = result
    return result


def _fast(address: str) -> str | None:
    """The normalised address if the strict ASCII grammar (``_FAST``) settles it, else None."""
    local, at, domain = address.partition("@")
    if not at or len(local) > 64:
        return None
    lowered = _fast_domain(domain)
    if lowered is None or _FAST_LOCAL.fullmatch(local) is None:
        return None
    if local.lower() in _RFC2142_NAMES:
        return None
    return address if lowered == domain else f"{local}@{lowered}"


def _slow(address: str) -> str:
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid address {address!r}: {exc}") from exc
    except (UnicodeError, ValueError) as exc:  # defensive: idna and unicodedata edge cases
        raise InvalidAddress(f"invalid address {address!r}: {exc}") from exc
    if result.smtputf8:
        _check_compatibility_forms(address, result.local_part)
    return str(result.normalized)


def _check_compatibility_forms(address: str, local: str) -> None:
    """Refuse a non-ASCII character that stands for ASCII punctuation, a space or a control
    character under compatibility normalisation (NFKC): full-width "＞", "＝", an ideographic
    space... A server that normalises the line would read them as SMTP syntax."""
    for ch in local:
        if ch.isascii():
            continue
        for mapped in unicodedata.normalize("NFKC", ch):
            if mapped.isascii() and not mapped.isalnum():
                raise InvalidAddress(
                    f"invalid address {address!r}: {unicodedata.name(ch, repr(ch))} before "
                    f"the @ stands for {mapped!r}"
                )


def normalize_email(address: str) -> str:
    """Validate an address without DNS and return its normalised form.

    Normal form (email-validator's): the local part as given (NFC; RFC 2142 names such as
    ``Info`` lowercased), the domain lowercased and in its Unicode form (``xn--`` labels
    decoded). Surrounding whitespace is removed. Raise InvalidAddress.
    """
    address = address.strip()
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS_LENGTH} characters")
    fast = _fast(address)
    if fast is not None:
        return fast
    if not address:
        raise InvalidAddress("the address is empty")
    local = address.rpartition("@")[0]
    if len(local.encode("utf-8", "surrogatepass")) > MAX_LOCAL_OCTETS:
        raise InvalidAddress(
            f"invalid address {address!r}: the part before the @ is longer than "
            f"{MAX_LOCAL_OCTETS} bytes (RFC 5321)"
        )
    if len(address.encode("utf-8", "surrogatepass")) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS_LENGTH} bytes")
    return _slow(address)


def normalize_domain(domain: str) -> str:
    """A domain in the form `normalize_email` gives an address's domain: lowercased, Unicode
    labels (``xn--`` decoded), no trailing dot. Raise InvalidAddress saying why not."""
    given = domain
    domain = domain.strip().rstrip(".")
    if not domain:
        raise InvalidAddress("the domain is empty")
    fast = _fast_domain(domain)
    if fast is not None:
        return fast
    try:
        result = validate_email_domain_name(
            domain, test_environment=True, globally_deliverable=False
        )
    except (EmailNotValidError, UnicodeError, ValueError) as exc:
        reason = str(exc).replace("The part after the @-sign", "It")
        raise InvalidAddress(f"{given!r} is not a domain name: {reason}") from exc
    return str(result["domain"]).lower()


def address_key(address: str) -> str:
    """The key two normalised addresses share when they are the same subscriber."""
    return address.lower()


_HOST = re.compile(
    r"(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    re.ASCII,
)
# The final check of what goes between "<" and ">" on the wire: atext and dots (or UTF-8,
# checked above) before the @, an ASCII host name after it. No space, "<", ">", quote,
# control character or second "@" can pass, so nothing can end the address or add a parameter.
_WIRE = re.compile(rf"(?:{_ATEXT}|\.|[^\x00-\x7f])+@[A-Za-z0-9.-]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class SmtpAddress:
    """A bare address as it goes in MAIL FROM, RCPT TO and address headers."""

    text: str  # local part as given (NFC), domain lowercased and in IDNA ASCII form
    smtputf8: bool  # the local part is not ASCII: the server must offer SMTPUTF8


@functools.lru_cache(maxsize=_DOMAIN_CACHE_SIZE)
def _ascii_host(domain: str) -> str:
    """The domain in ASCII (IDNA 2008 / UTS 46, as email-validator); raise InvalidAddress."""
    if domain.isascii():
        if _HOST.fullmatch(domain) is None:
            raise InvalidAddress(f"{domain!r} is not a host name")
        return domain.lower()
    try:
        # Reserved names (localhost, *.test...) are allowed here: the default sender is
        # noreply@localhost, and test set-ups send to such names. Imports refuse them.
        result = validate_email_domain_name(
            domain, test_environment=True, globally_deliverable=False
        )
    except (EmailNotValidError, UnicodeError, ValueError) as exc:
        raise InvalidAddress(f"{domain!r}: {exc}") from exc
    return str(result["ascii_domain"])


def smtp_address(address: str) -> SmtpAddress:
    """Check a bare address and give its wire form; raise InvalidAddress saying why not.

    The grammar is email-validator's (a dot-atom local part, ASCII or UTF-8; a host name,
    international names encoded with IDNA 2008 / UTS 46), plus host names without a dot and
    reserved ones (localhost) in ASCII. Quoted local parts and address literals are refused.
    The result is checked once more against a strict pattern before it is returned.
    """
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(f"{address!r} is not an address (local@domain)")
    if not address.isprintable():
        raise InvalidAddress(
            f"invalid address {address!r}: it contains a control character, a line break "
            "or a space other than U+0020"
        )
    try:
        host = _ascii_host(domain)
    except InvalidAddress as exc:
        raise InvalidAddress(f"invalid address {address!r}: the domain {exc}") from None
    if len(local) > MAX_LOCAL_OCTETS or _FAST_LOCAL.fullmatch(local) is None:
        try:
            result = validate_email_local_part(local, allow_smtputf8=True)
        except (EmailNotValidError, UnicodeError, ValueError) as exc:
            raise InvalidAddress(f"invalid address {address!r}: {exc}") from exc
        local = str(result["local_part"])
        if len(local.encode("utf-8", "surrogatepass")) > MAX_LOCAL_OCTETS:
            raise InvalidAddress(
                f"invalid address {address!r}: the part before the @ is longer than "
                f"{MAX_LOCAL_OCTETS} bytes (RFC 5321)"
            )
        _check_compatibility_forms(address, local)
    text = f"{local}@{host}"
    if len(text.encode("utf-8", "surrogatepass")) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address {address!r} is longer than {MAX_ADDRESS_LENGTH} bytes")
    if _WIRE.fullmatch(text) is None:  # cannot happen after the checks above; never send it
        raise InvalidAddress(f"invalid address {address!r}: not safe to send")
    return SmtpAddress(text, not local.isascii())


def name_from_email(address: str) -> str:
    """A display name from the local part: ``jane.doe+news@x`` -> ``Jane Doe``."""
    local = address.rpartition("@")[0] or address
    local = local.split("+", 1)[0] or local
    words = local.translate(_NAME_SEPARATORS).split()
    if not words:
        return local[:MAX_NAME_LENGTH]
    return " ".join([w[:1].upper() + w[1:] for w in words])[:MAX_NAME_LENGTH]
