"""HTML to text (textify) and the HTML-to-text-template conversion that mirrors it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignd.rendering.source import html_to_text, markdown_to_html, split_markup
from campaignd.rendering.textify import resolve_markers, textify, tidy


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<p>a<br>b<br/>c</p>", "a\nb\nc"),
        ("<div>a</div><div>b</div>", "a\nb"),
        ("<h1>Title</h1>text", "Title\n\ntext"),
        ("<ul><li>a</li><li>b<ul><li>c</li></ul></li></ul>", "- a\n- b\n- c"),
        ("<ol><li>a</li><li>b</li></ol>", "1. a\n2. b"),
        ('<a href="https://x.org/p">read</a>', "read (https://x.org/p)"),
        ('<a href="https://x.org/">https://x.org/</a>', "https://x.org/"),
        ('<a href="mailto:a@b.c">a@b.c</a>', "a@b.c"),
        ('<a href="#top">top</a>', "top"),
        ('<a href="https://x.org"><img src="l.png" alt=""></a>', "https://x.org"),
        ('<img src="logo.png" alt="ACME">', "ACME"),
        ("<head><title>T</title><style>p{}</style></head><body>x</body>", "x"),
        ("<script>alert(1)</script>ok<noscript>n</noscript>", "ok"),
        ("Tom &amp; Jerry &lt;3 &eacute; &#233;", "Tom & Jerry <3 é é"),
        ("a   b\n\n  c\t d", "a b c d"),
        ("<pre>  code\n    indented</pre>", "  code\n    indented"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", "a\nb"),
        ("<p></p><p></p><p>x</p>", "x"),
        ("", ""),
        ("<p>unclosed <b>bold", "unclosed bold"),
    ],
)
def test_textify(html: str, text: str) -> None:
    assert textify(html) == text


def test_split_markup_understands_jinja_lexing() -> None:
    source = "a{{ '}}' }}b{% if x %}{# c }} #}{% raw %}{{ x }}{% endraw %}{{ {'k': {'v': 1}} }}"
    pieces = split_markup(source)
    assert "".join(p.text for p in pieces) == source
    assert [p.text for p in pieces if p.markup] == [
        "{{ '}}' }}",
        "{% if x %}",
        "{# c }} #}",
        "{% raw %}{{ x }}{% endraw %}",
        "{{ {'k': {'v': 1}} }}",
    ]


def test_text_template_keeps_jinja_and_makes_literal_braces_inert() -> None:
    text = html_to_text("<p>{ literal } {{ subscriber.name }}</p>{% if x %}<p>yes</p>{% endif %}")
    assert text is not None
    assert "{{ subscriber.name }}" in text
    assert '{{ "{" }} literal }' in text
    assert "{% if x %}" in text


@pytest.mark.parametrize(
    "html",
    [
        "<div {% if x %}class='a'{% endif %}>x</div>",  # a block tag inside a tag is dropped
        "<pre>{{ x }}</pre>",
        "<ol>{% for i in y %}<li>{{ i }}</li>{% endfor %}</ol>",
        "{% raw %}<p>x</p>{% endraw %}",
        "<script>{% if x %}{% endif %}</script>",
    ],
)
def test_sources_that_cannot_be_mirrored_are_left_to_per_message_conversion(html: str) -> None:
    assert html_to_text(html) is None


def test_markdown_conversion_keeps_jinja_out_of_markdown() -> None:
    html = markdown_to_html('Hi {{ a["b"] * 2 }} and *{{ c }}*\n\n{% if d > 1 %}\nx\n{% endif %}\n')
    assert '{{ a["b"] * 2 }}' in html
    assert "<em>{{ c }}</em>" in html
    assert "<p>{% if d > 1 %}" in html


def _markers_by_definition(text: str) -> str:
    """The rule as first written: every run of [\\x01\\x02\\n \\t] starting at a marker
    becomes min(2, newlines in it + 2 if it holds \\x02 else 1) newlines."""

    def resolve(run: re.Match[str]) -> str:
        return "\n" * min(2, run[0].count("\n") + (2 if "\x02" in run[0] else 1))

    return re.sub(r"[\x01\x02][\n\x01\x02 \t]*", resolve, text)


@settings(max_examples=3000)
@given(st.text(alphabet="\x01\x02\n \tab\x00\r.", max_size=60))
def test_marker_runs_resolve_as_defined(text: str) -> None:
    assert resolve_markers(text) == _markers_by_definition(text)


@pytest.mark.parametrize(
    ("text", "resolved"),
    [
        ("a\x01b", "a\nb"),
        ("a\x01 \x01\tb", "a\nb"),  # adjacent single breaks merge, spaces go
        ("a\x01\x02b", "a\n\nb"),  # the larger break wins
        ("a\x01\nb", "a\n\nb"),  # a newline inside the run adds one
        ("a\x02\n\n\x02b", "a\n\nb"),  # never more than two
        ("a\n\x01b", "a\n\nb"),  # a newline before the run is not part of it
        ("a\x01b\x02c\x01", "a\nb\n\nc\n"),
    ],
)
def test_marker_runs(text: str, resolved: str) -> None:
    assert resolve_markers(text) == resolved


@settings(max_examples=1000)
@given(st.text(alphabet="\x01\x02\n \tab\x00", max_size=60))
def test_tidy_resolves_markers_first(text: str) -> None:
    assert tidy(text) == tidy(_markers_by_definition(text))
