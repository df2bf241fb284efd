"""Email address validation and normalisation without DNS, with a fast path for plain ASCII."""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from campaignd.errors import InvalidInput

MAX_ADDRESS_LENGTH = 254
MAX_NAME_LENGTH = 256

# The common case: an ASCII dot-atom local part and an ASCII host name of two labels or more
# whose top-level label ends with a letter. Anything else goes to email-validator.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST = re.compile(
    rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@((?:{_LABEL}\.)+(?:[A-Za-z0-9][A-Za-z0-9-]{{0,61}})?[A-Za-z])",
    re.ASCII,
)

# email-validator's rules that the regex above does not express: these fall back to it.
_SPECIAL_USE_TLDS = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_CASE_INSENSITIVE_MAILBOXES = frozenset(
    {
        "info",
        "marketing",
        "sales",
        "support",
        "abuse",
        "noc",
        "security",
        "postmaster",
        "hostmaster",
        "usenet",
        "news",
        "webmaster",
        "www",
        "uucp",
        "ftp",
    }
)

_NAME_SPLIT = re.compile(r"[._\-]+")


class InvalidAddress(InvalidInput):
    """The email address is not valid."""


def _fast(address: str) -> str | None:
    """The normalised address if the strict ASCII grammar settles it, else None."""
    m = _FAST.fullmatch(address)
    if m is None:
        return None
    local, domain = m.group(1), m.group(2)
    if len(local) > 64 or len(address) > MAX_ADDRESS_LENGTH or len(domain) > 253:
        return None
    if "--" in domain or local.lower() in _CASE_INSENSITIVE_MAILBOXES:
        return None  # punycode, reserved label forms, RFC 2142 names: the library decides
    domain = domain.lower()
    if domain.rpartition(".")[2] in _SPECIAL_USE_TLDS:
        return None
    return f"{local}@{domain}"


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
    if not address:
        raise InvalidAddress("the address is empty")
    if len(address) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress(f"the address is longer than {MAX_ADDRESS_LENGTH} characters")
    fast = _fast(address)
    return fast if fast is not None else _slow(address)


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
    words = [w for w in _NAME_SPLIT.split(local) if w]
    if not words:
        return local[:MAX_NAME_LENGTH]
    return " ".join(w[:1].upper() + w[1:] for w in words)[:MAX_NAME_LENGTH]
