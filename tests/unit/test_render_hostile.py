"""Hostile templates: sandbox escapes are blocked, runaway work stops with a clear error in time."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from campaignd.domain import ContentType
from campaignd.errors import TemplateError
from campaignd.rendering.template_data import CampaignData, sample_subscriber
from campaignd.rendering.templates import CampaignRenderer

TIMEOUT = 0.5
MAX_OUTPUT = 200_000


def run(body: str, content_type: ContentType = ContentType.PLAIN) -> str:
    renderer = CampaignRenderer(
        subject="s",
        body=body,
        content_type=content_type,
        alt_body=None,
        layout=None,
        headers=(),
        campaign=CampaignData("n", "s", "u", ()),
        max_output=MAX_OUTPUT,
        timeout=TIMEOUT,
    )
    return renderer.render(sample_subscriber()).text or ""


@pytest.mark.parametrize(
    "body",
    [
        "{{ subscriber.__class__ }}",
        "{{ subscriber.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ campaign.__init__.__globals__ }}",
        "{{ ''.__class__.mro() }}",
        "{{ unsubscribe_url.__globals__ }}",
        "{{ subscriber._links.unsubscribe }}",
        "{{ '{0.__class__}'.format(subscriber) }}",
        "{{ '{0.__class__.__mro__}'.format_map({'0': subscriber}) }}",
        "{{ '%s'|format(subscriber.__class__) }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ campaign.tags.append('x') }}",
        "{{ subscriber.attributes.update({'a': 1}) }}",
        "{{ lipsum(5) }}",
    ],
)
def test_sandbox_escapes_are_blocked(body: str) -> None:
    with pytest.raises(TemplateError) as caught:
        run(body)
    assert "line 1" in str(caught.value)
    assert "subclass" not in str(caught.value) or "unsafe" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set r = range(100000)|list %}{% for a in r %}{% for b in r %}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
        "{% for a in range(10**9) %}{% endfor %}",
    ],
)
def test_runaway_loops_and_recursion_stop_within_the_time_limit(body: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        run(body)
    elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 2.0
    message = str(caught.value)
    assert any(
        word in message for word in ("longer than", "too big", "recursion", "over the limit")
    )


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'x' * 10**9 }}",
        "{{ [1] * 10**9 }}",
        "{{ 10 ** (10 ** 10) }}",
        "{{ ((10 ** 100) ** 100) ** 100 }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'.center(10**9) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'ab'|replace('a', 'x' * 150000) * 2 }}",
        "{{ ('x' * 150000)|replace('x', 'yy') }}",
        "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{% for i in range(100000) %}{{ 'abcdefghij' }}{% endfor %}",
        "{{ [1]|batch(10**9, 0)|list }}",
    ],
)
def test_huge_output_is_refused_with_a_clear_error(body: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"more than|larger than|exceed|longer than"):
        run(body)
    assert time.monotonic() - started < TIMEOUT + 2.0


def test_html_bodies_are_limited_too() -> None:
    with pytest.raises(TemplateError, match="longer than"):
        run(
            "<p>{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}"
            "{% endfor %}</p>",
            ContentType.HTML,
        )


def test_normal_templates_are_not_affected_by_the_limits() -> None:
    out = run(
        "{% for i in range(1000) %}{{ i }},{% endfor %}"
        "{{ 'ab' * 3 }} {{ 2 ** 10 }} {{ '%05d' % 42 }} {{ '{:>4}'.format(7) }}"
        "{{ 'x'|center(5) }}|{% set ns = namespace(n=0) %}{% for i in range(10) %}"
        "{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"
    )
    assert out.endswith("ababab 1024 00042    7  x  |45")
    assert out.startswith("0,1,2,")


BIG = 2_000_000  # the default template_max_output


def run_big(body: str) -> str:
    renderer = CampaignRenderer(
        subject="s",
        body=body,
        content_type=ContentType.PLAIN,
        alt_body=None,
        layout=None,
        headers=(),
        campaign=CampaignData("n", "s", "u", ()),
        max_output=BIG,
        timeout=2.0,
    )
    return renderer.render(sample_subscriber()).text or ""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ('{{ "%*s" % (10**9, "x") }}', "'%' would produce more than 2000000"),
        ('{{ "%.*f" % (10**9, 1.0) }}', "'%' would produce more than"),
        ('{{ "%*s"|format(10**9, "x") }}', "filter 'format' would produce more than"),
        ('{{ "{:{}}".format("x", 10**9) }}', "format() would produce more than"),
        ('{{ "{0:{1}}{0:{1}}{0:{1}}".format("x", 1900000) }}', "format() would produce"),
        ('{{ "{x:>{w}}".format_map({"x": "y", "w": 10**9}) }}', "format() would produce more than"),
        (
            "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
            '{{ d("x", 40) }}',
            "'~' would produce more than",
        ),
        (
            "{% macro d(s, n) %}{% if n %}{{ d(s + s, n - 1) }}{% endif %}{% endmacro %}"
            '{{ d("x", 40) }}',
            r"'\+' would produce more than",
        ),
        (
            '{% macro d(s, n) %}{% if n %}{{ d(s ~ "x", n - 1) }}{% endif %}{% endmacro %}'
            '{{ d("x" * 1900000, 300) }}',
            "built more than 64000000 characters",
        ),
        ('{{ ("x" * 1900000)|wordwrap(1) }}', "too costly to wrap"),
        ('{{ ("x" * 1900000)|wordwrap(2, wrapstring="yy") }}', "too costly|would produce"),
        ('{{ ("a\n" * 900000)|indent(100) }}', "filter 'indent' would produce"),
        ('{{ ("a" * 1900000)|replace("a", "bb") }}', "filter 'replace' would produce"),
        ('{{ ("a" * 1900000).replace("a", "bb") }}', "replace() would produce"),
        ('{{ ("a" * 1900000).translate({97: "bb"}) }}', "translate() would produce"),
        ('{{ ("\t" * 1000).expandtabs(10**6) }}', "expandtabs() would produce"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ l|join|length }}', "filter 'join' would"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ "".join(l)|length }}', "join() would"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ l }}', "printing a list would"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ l|string|length }}', "filter 'string' would"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ (l ~ "")|length }}', "'~' would"),
        ('{% set l = ["x" * 19000] * 1900000 %}{{ l|map("upper")|list|length }}', "built more"),
        ("{% set l = [[1] * 1000] * 10000 %}{{ l|sum(start=[])|length }}", "copies more than"),
        ("{{ range(10**9)|list|length }}", "range() of 1000000000 items is over the limit"),
        ("{{ [1]|slice(10**9)|list }}", "slices is over the limit"),
    ],
)
def test_bombs_stop_before_allocating(body: str, error: str) -> None:
    """Each bomb ends fast with an error naming the limit, and never holds much memory."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateError, match=error.replace("(", r"\(").replace(")", r"\)")):
            run_big(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 1.5
    # 100 MB at most (the work limit is 32 x 2 MB): far from the GBs these reached
    assert peak < 50 * BIG


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{{ "Hello {}".format(10**6) }}', "Hello 1000000"),
        ('{{ "{0:{1}}|".format("x", 3) }}', "x  |"),
        ('{{ "%*s|%-3s|" % (3, "x", "y") }}', "  x|y  |"),
        ('{{ "%(a)s" % {"a": 1} }}', "1"),
        ("{{ 50000 * 100 }}", "5000000"),
        ('{{ ("word " * 30000)|wordwrap(79)|length }}', "149999"),
        ('{{ ("a" * 100000)|wordwrap(80)|length }}', "101249"),
        ('{{ ["a", "b"]|join(", ") }} {{ "-".join(["a", "b"]) }}', "a, b a-b"),
        ("{{ [[1], [2]]|sum(start=[]) }}", "[1, 2]"),
        ('{{ "x" ~ 1 ~ [2] }}', "x1[2]"),
        ("{{ [1, 'a'] }}", "[1, 'a']"),
        ('{{ "a\nb"|indent(2, true) }}', "  a\n  b"),
    ],
)
def test_checks_do_not_refuse_ordinary_use(body: str, expected: str) -> None:
    assert run_big(body) == expected
