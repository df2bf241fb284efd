"""Email address validation and normalisation without DNS, with a fast path for plain ASCII."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from campaignd.errors import InvalidInput

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


class InvalidAddress(InvalidInput):
    """The email address is not valid."""


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
    return str(result.normalized)


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


def address_key(address: str) -> str:
    """The key two normalised addresses share when they are the same subscriber."""
    return address.lower()


def ascii_domain(address: str) -> str:
    """The address with its domain in IDNA (``xn--``) form, as SMTP needs it without SMTPUTF8."""
    local, _, domain = address.rpartition("@")
    if domain.isascii():
        return address
    try:
        result = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"invalid address {address!r}: {exc}") from exc
    return f"{local}@{result.ascii_domain}"


def name_from_email(address: str) -> str:
    """A display name from the local part: ``jane.doe+news@x`` -> ``Jane Doe``."""
    local = address.rpartition("@")[0] or address
    local = local.split("+", 1)[0] or local
    words = local.translate(_NAME_SEPARATORS).split()
    if not words:
        return local[:MAX_NAME_LENGTH]
    return " ".join([w[:1].upper() + w[1:] for w in words])[:MAX_NAME_LENGTH]
