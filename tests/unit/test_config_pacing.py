"""[[domain_limits]]: domains normalised like addresses, one entry per domain, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaignd.config import Settings
from campaignd.config.load import load_settings
from campaignd.errors import ConfigError


def load(tmp_path: Path, body: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(body)
    return load_settings(path, env={})


def test_domains_are_lowercased_and_idna_decoded_with_defaults(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[[domain_limits]]\ndomains = ["GMail.com", "googlemail.com."]\nmax_rate = 5\n'
        '[[domain_limits]]\ndomains = ["xn--bcher-kva.example"]\nmax_in_flight = 2\n'
        'backoff = "1m"\nmax_backoff = "2h"\n',
    )
    gmail, books = settings.domain_limits
    assert gmail.domains == ("gmail.com", "googlemail.com")
    assert (gmail.max_rate, gmail.max_in_flight) == (5.0, None)
    assert (gmail.backoff, gmail.max_backoff) == (30.0, 900.0)
    assert books.domains == ("bücher.example",)
    assert (books.max_in_flight, books.backoff, books.max_backoff) == (2, 60.0, 7200.0)


def test_no_domain_limits_by_default() -> None:
    assert Settings().domain_limits == ()


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('domains = ["gmail.com"]\n', r"domain_limits\[0\].*sets no limit: give max_rate"),
        ('domains = ["gmail.com"]\nmax_rate = 0\n', r"domain_limits\[0\]\.max_rate"),
        ('domains = ["gmail.com"]\nmax_in_flight = 0\n', r"max_in_flight"),
        ('domains = "gmail.com"\nmax_rate = 1\n', r"domains.*a list of domains"),
        ("domains = []\nmax_rate = 1\n", r"domain_limits\[0\].*lists no domains: give domains"),
        ("max_rate = 1\n", r"lists no domains: give domains = \[...\] or mx = \[...\]"),
        ('mx = "*.google.com"\nmax_rate = 1\n', r"mx.*a list of MX host patterns"),
        ('mx = ["google"]\nmax_rate = 1\n', r"MX pattern 'google' is not a host name"),
        ('mx = ["*google.com"]\nmax_rate = 1\n', r"MX pattern '\*google\.com' is not"),
        ('mx = ["a.*.com"]\nmax_rate = 1\n', r"MX pattern 'a\.\*\.com' is not"),
        ('mx = ["mx.bücher.example"]\nmax_rate = 1\n', r"in ASCII \(its xn-- form\)"),
        ('mx = ["*.a.com", "*.A.com."]\nmax_rate = 1\n', r"\*\.a\.com is listed twice"),
        ("mx = [3]\nmax_rate = 1\n", r"3 is not an MX host pattern"),
        ('domains = ["gmail com"]\nmax_rate = 1\n', r"'gmail com' is not a domain name"),
        ('domains = ["a.com", "A.com"]\nmax_rate = 1\n', r"a\.com is listed twice"),
        ('domains = ["a.com"]\nmax_rat = 1\n', r"did you mean domain_limits\[0\]\.max_rate"),
        ('domains = ["a.com"]\nmax_rate = 1\nbackoff = "soon"\n', r"backoff"),
        (
            'domains = ["a.com"]\nmax_rate = 1\nbackoff = "10m"\nmax_backoff = "1m"\n',
            r"max_backoff \(60s\) is shorter than backoff \(600s\)",
        ),
    ],
)
def test_bad_entries_are_refused_naming_the_problem(tmp_path: Path, body: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load(tmp_path, "[[domain_limits]]\n" + body)


def test_a_domain_in_two_entries_is_refused(tmp_path: Path) -> None:
    body = (
        '[[domain_limits]]\ndomains = ["gmail.com"]\nmax_rate = 1\n'
        '[[domain_limits]]\ndomains = ["yahoo.com", "GMAIL.com"]\nmax_in_flight = 1\n'
    )
    with pytest.raises(ConfigError, match=r"domain_limits: gmail\.com is in entries 0 and 1"):
        load(tmp_path, body)


def test_mx_patterns_are_lowercased_and_an_entry_may_have_only_them(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        '[[domain_limits]]\ndomains = ["gmail.com"]\nmx = ["*.Google.com", "ASPMX.l.google.com."]\n'
        "max_rate = 5\n"
        '[[domain_limits]]\nmx = ["*.protection.outlook.com"]\nmax_in_flight = 2\n',
    )
    google, outlook = settings.domain_limits
    assert google.mx == ("*.google.com", "aspmx.l.google.com")
    assert (outlook.domains, outlook.mx) == ((), ("*.protection.outlook.com",))
    assert outlook.label == "MX *.protection.outlook.com"


def test_an_mx_pattern_in_two_entries_is_refused(tmp_path: Path) -> None:
    body = (
        '[[domain_limits]]\nmx = ["*.google.com"]\nmax_rate = 1\n'
        '[[domain_limits]]\ndomains = ["a.com"]\nmx = ["*.GOOGLE.com"]\nmax_rate = 1\n'
    )
    with pytest.raises(ConfigError, match=r"MX pattern \*\.google\.com is in entries 0 and 1"):
        load(tmp_path, body)


def test_one_bracket_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"write \[\[domain_limits\]\]"):
        load(tmp_path, '[domain_limits]\ndomains = ["gmail.com"]\nmax_rate = 1\n')
