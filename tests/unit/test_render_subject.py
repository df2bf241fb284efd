"""{{ campaign.subject }} is the subject as rendered for each subscriber, in every part."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from campaignd.domain import ContentType
from campaignd.errors import TemplateError
from campaignd.rendering.template_data import CampaignData, Links, SubscriberData
from campaignd.rendering.templates import CampaignRenderer

NOW = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
SUBJECT = "News for {{ subscriber.first_name | default('you') }}"
LAYOUT = "<html><title>{{ campaign.subject }}</title><body>{{ content }}</body></html>"


def person(name: str) -> SubscriberData:
    links = Links("https://ex.org/u/T", lambda: "https://ex.org/o/T", NOW)
    return SubscriberData("p@example.org", name, "uuid-1", {}, links)


def renderer(**kw: Any) -> CampaignRenderer:
    values: dict[str, Any] = {
        "subject": SUBJECT,
        "body": "<p>{{ campaign.subject }}</p>",
        "content_type": ContentType.HTML,
        "alt_body": None,
        "layout": LAYOUT,
        "headers": (),
        "campaign": CampaignData("Weekly", SUBJECT, "camp-uuid", ()),
        "max_output": 100_000,
        "timeout": 2.0,
    }
    values.update(kw)
    return CampaignRenderer(**values)


def test_layout_and_body_see_the_rendered_subject() -> None:
    r = renderer()
    out = r.render(person("Ada Lovelace"))
    assert out.subject == "News for Ada"
    assert out.html == "<html><title>News for Ada</title><body><p>News for Ada</p></body></html>"
    assert "News for Ada" in (out.text or "")
    assert "{{" not in (out.html or "") + (out.text or "")
    # each subscriber gets their own
    assert r.render(person("Grace Hopper")).html is not None
    assert "News for Grace" in (r.render(person("Grace Hopper")).html or "")


def test_alt_body_and_headers_see_the_rendered_subject() -> None:
    out = renderer(
        alt_body="Text: {{ campaign.subject }}",
        headers=(("X-Subject", "[{{ campaign.subject }}]"),),
    ).render(person("Ada Lovelace"))
    assert out.text == "Text: News for Ada"
    assert out.headers == ("[News for Ada]",)


@pytest.mark.parametrize("content_type", [ContentType.PLAIN, ContentType.MARKDOWN])
def test_plain_and_markdown_bodies_see_it(content_type: ContentType) -> None:
    out = renderer(body="About: {{ campaign.subject }}", content_type=content_type).render(
        person("Ada Lovelace")
    )
    assert "About: News for Ada" in ((out.text or "") if out.html is None else out.html)


def test_the_subject_is_escaped_in_html_like_any_data() -> None:
    out = renderer().render(person("<script>x</script> Byron"))
    assert out.subject == "News for <script>x</script>"
    assert "<title>News for &lt;script&gt;x&lt;/script&gt;</title>" in (out.html or "")
    assert "<script>" not in (out.html or "")


def test_errors_still_name_the_field_and_line() -> None:
    with pytest.raises(TemplateError, match="template: line 1"):
        renderer(layout="{{ content }}{{ campaign.subject.nope() }}").render(person("Ada"))
    with pytest.raises(TemplateError, match="subject: line 1"):
        renderer(subject="{{ 1 / subscriber.attributes.zero }}").render(person("Ada"))


def test_a_campaign_that_does_not_name_campaign_is_unchanged() -> None:
    out = renderer(layout="<b>{{ content }}</b>", body="<p>x</p>").render(person("Ada"))
    assert out.html == "<b><p>x</p></b>"
    assert out.subject == "News for Ada"
