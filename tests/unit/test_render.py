"""Campaign rendering: data, functions, autoescape rules, layouts, Markdown, checks with lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaignd.domain import ContentType
from campaignd.errors import TemplateError
from campaignd.rendering.template_data import CampaignData, Links, SubscriberData
from campaignd.rendering.templates import CampaignRenderer, Rendered, check_layout

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


def subscriber(name: str = "Ada Byron Lovelace", **attributes: Any) -> SubscriberData:
    links = Links("https://ex.org/unsubscribe/TOKEN", lambda: "https://ex.org/optin/OPT", NOW)
    return SubscriberData("ada@example.org", name, "uuid-1", attributes, links)


def renderer(
    body: str = "<p>hi</p>",
    *,
    subject: str = "Subject",
    content_type: ContentType = ContentType.HTML,
    alt_body: str | None = None,
    layout: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    max_output: int = 100_000,
    timeout: float = 2.0,
) -> CampaignRenderer:
    return CampaignRenderer(
        subject=subject,
        body=body,
        content_type=content_type,
        alt_body=alt_body,
        layout=layout,
        headers=headers,
        campaign=CampaignData("Weekly", "raw {{ subject }}", "camp-uuid", ("news", "b")),
        max_output=max_output,
        timeout=timeout,
    )


def render(body: str = "<p>hi</p>", sub: SubscriberData | None = None, **kw: Any) -> Rendered:
    return renderer(body, **kw).render(sub or subscriber(city="Paris"))


def test_subscriber_campaign_and_functions_are_available() -> None:
    out = render(
        "{{ subscriber.first_name }}|{{ subscriber.last_name }}|{{ subscriber.email }}|"
        "{{ subscriber.uuid }}|{{ subscriber.attributes.city }}|{{ campaign.name }}|"
        "{{ campaign.uuid }}|{{ campaign.tags|join(',') }}|{{ unsubscribe_url() }}|"
        "{{ optin_url() }}|{{ date('%Y-%m-%d') }}",
        content_type=ContentType.PLAIN,
    )
    assert out.text == (
        "Ada|Lovelace|ada@example.org|uuid-1|Paris|Weekly|camp-uuid|news,b|"
        "https://ex.org/unsubscribe/TOKEN|https://ex.org/optin/OPT|2026-03-04"
    )
    assert out.html is None


def test_html_is_escaped_but_subject_headers_and_text_are_not() -> None:
    sub = subscriber(name="Tom & <Jerry>")
    out = render(
        "<p>{{ subscriber.name }}</p>",
        sub,
        subject="Hi {{ subscriber.name }}",
        alt_body="Text {{ subscriber.name }}",
        headers=(("X-Name", "{{ subscriber.name }}"),),
    )
    assert out.html == "<p>Tom &amp; &lt;Jerry&gt;</p>"
    assert out.subject == "Hi Tom & <Jerry>"
    assert out.text == "Text Tom & <Jerry>"
    assert out.headers == ("Tom & <Jerry>",)


def test_layout_wraps_the_body_through_content() -> None:
    out = render(
        "<p>Hello {{ subscriber.first_name }}</p>",
        layout="<html><body><div>{{ content }}</div>"
        "<p>Footer {{ campaign.name }}</p></body></html>",
    )
    assert out.html == ("<html><body><div><p>Hello Ada</p></div><p>Footer Weekly</p></body></html>")
    assert out.text == "Hello Ada\n\nFooter Weekly"


def test_text_part_is_generated_from_the_html() -> None:
    out = render(
        "<h1>News for {{ subscriber.first_name }}</h1><p>Read <a href='https://ex.org/a'>this</a>"
        "<br>now</p><ul>{% for t in campaign.tags %}<li>{{ t }}</li>{% endfor %}</ul>"
        "<script>alert(1)</script><style>p{}</style>",
    )
    assert out.text == "News for Ada\n\nRead this (https://ex.org/a)\nnow\n\n- news\n- b"


def test_derived_text_matches_the_converted_html_on_real_data() -> None:
    body = (
        "<p>{% if subscriber.attributes.vip %}VIP {{ subscriber.name }}{% else %}Hi{% endif %}</p>"
        "<table><tr>{% for t in campaign.tags %}<td>{{ t }}</td>{% endfor %}</tr></table>"
        "<p><a href='{{ unsubscribe_url() }}'>{{ unsubscribe_url() }}</a></p>"
    )
    r = renderer(body)
    assert r.derived_text  # the fast path is used for this body
    from campaignd.rendering.textify import textify

    def lines(text: str) -> list[str]:  # data keeps its own spacing in the text part
        return [" ".join(line.split()) for line in text.split("\n")]

    for sub in (subscriber(vip=True), subscriber(vip=False), subscriber(name="X  Y", vip=1)):
        out = r.render(sub)
        assert lines(out.text or "") == lines(textify(out.html or ""))


def test_ordered_list_loops_fall_back_to_per_message_conversion() -> None:
    r = renderer("<ol>{% for t in campaign.tags %}<li>{{ t }}</li>{% endfor %}</ol>")
    assert not r.derived_text
    assert r.render(subscriber()).text == "1. news\n2. b"


def test_markdown_body_becomes_html_with_data_escaped_not_interpreted() -> None:
    body = (
        "# Hello {{ subscriber.name }}\n\n"
        "{% if subscriber.attributes.vip %}\nYou are **VIP**.\n{% endif %}\n\n"
        "[Unsubscribe]({{ unsubscribe_url() }})\n"
    )
    sub = subscriber(name="*bold* <b>x</b>", vip=True)
    out = render(body, sub, content_type=ContentType.MARKDOWN)
    assert out.html is not None
    assert "<h1>Hello *bold* &lt;b&gt;x&lt;/b&gt;</h1>" in out.html
    assert "<strong>VIP</strong>" in out.html
    assert '<a href="https://ex.org/unsubscribe/TOKEN">Unsubscribe</a>' in out.html
    assert out.text is not None
    assert "Unsubscribe (https://ex.org/unsubscribe/TOKEN)" in out.text


def test_plain_campaign_has_only_text_and_ignores_no_layout() -> None:
    out = render("Hi {{ subscriber.name }} <b>", content_type=ContentType.PLAIN)
    assert (out.text, out.html) == ("Hi Ada Byron Lovelace <b>", None)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"body": "<p>{{ subscriber.name }</p>"}, r"body: line 1: unexpected '}'"),
        ({"body": "<p>\n\n{% if x %}</p>"}, r"body: line 3: Unexpected end of template"),
        ({"subject": "{{ subscriber.nmae }"}, r"subject: line 1"),
        ({"alt_body": "a\n{% for %}"}, r"alt_body: line 2"),
        ({"headers": (("X-A", "{{ 1 + }}"),)}, r"header X-A: line 1"),
        ({"layout": "<div>no content here</div>"}, r"\{\{ content \}\}"),
    ],
)
def test_syntax_errors_name_the_field_and_line(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        renderer(**kwargs)


def test_unknown_fields_are_caught_by_the_check_with_line() -> None:
    r = renderer("<p>ok</p>\n<p>{{ subscriber.nmae }}</p>")
    with pytest.raises(TemplateError, match=r"body: line 2: .*nmae"):
        r.check()
    with pytest.raises(TemplateError, match=r"subject: line 1: .*nope"):
        renderer(subject="{{ nope }}").check()


def test_attributes_may_vary_so_the_check_accepts_any_attribute_use() -> None:
    r = renderer(
        "{{ subscriber.attributes.city }} {{ subscriber.attributes.address.zip }}"
        "{% if subscriber.attributes.age > 18 %}adult{% endif %}"
        "{% for o in subscriber.attributes.orders %}{{ o.total + 1 }}{% endfor %}"
        "{{ subscriber.attributes['plan']|upper }} {{ subscriber.attributes.n|int * 2 }}"
    )
    r.check()  # passes with the permissive sample


def test_missing_attribute_for_one_subscriber_fails_that_render_only() -> None:
    r = renderer("<p>{{ subscriber.attributes.city }}</p>")
    assert r.render(subscriber(city="Oslo")).html == "<p>Oslo</p>"
    with pytest.raises(TemplateError, match=r"body: line 1: .*city"):
        r.render(subscriber())


def test_check_layout_accepts_a_layout_and_refuses_broken_ones() -> None:
    check_layout("<html><body>{{ content }}<p>{{ subscriber.attributes.x }}</p></body></html>")
    with pytest.raises(TemplateError, match="content"):
        check_layout("<html><body></body></html>")
    with pytest.raises(TemplateError, match="template: line 2"):
        check_layout("{{ content }}\n{% endif %}")
    with pytest.raises(TemplateError, match="nmae"):
        check_layout("{{ content }}{{ subscriber.nmae }}")


def test_date_refuses_field_widths() -> None:
    with pytest.raises(TemplateError, match="date"):
        render("{{ date('%099999999Y') }}")
