"""Templates written in listmonk's syntax fail with the Jinja2 form to write, and a misspelt
field of subscriber/campaign lists the ones there are; docs/templates.md shows the same table."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from campaignd.domain import ContentType
from campaignd.errors import TemplateError
from campaignd.rendering.listmonk import MAPPING, go_date_format, listmonk_hint, translate
from campaignd.rendering.template_data import CampaignData
from campaignd.rendering.templates import CampaignRenderer

DOCS = Path(__file__).parents[2] / "docs" / "templates.md"


def check(body: str, content_type: ContentType = ContentType.HTML) -> str:
    """The error `campaigns create` would print for this body."""
    with pytest.raises(TemplateError) as info:
        CampaignRenderer(
            subject="Hello",
            body=body,
            content_type=content_type,
            alt_body=None,
            layout=None,
            headers=(),
            campaign=CampaignData("c", "Hello", str(uuid.UUID(int=1)), ()),
            max_output=100_000,
            timeout=2.0,
        ).check()
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "write"),
    [
        ("<p>Hi {{ .Subscriber.Name }}</p>", "{{ subscriber.name }}"),
        ("<p>{{ .Subscriber.Attribs.city }}</p>", "{{ subscriber.attributes.city }}"),
        ("<p>{{ .Subscriber.Attribs.Name }}</p>", "{{ subscriber.attributes.Name }}"),
        ("<p>{{ .Subscriber.FirstName }}</p>", "{{ subscriber.first_name }}"),
        ('<a href="{{ UnsubscribeURL }}">x</a>', "{{ unsubscribe_url() }}"),
        ('<a href="{{ TrackLink "https://x.org/a" }}">x</a>', "the plain link https://x.org/a"),
        ('{{ Date "02 Jan 2006" }}', '{{ date("%d %b %Y") }}'),
        ("<p>{{ .Campaign.Subject }}</p>", "{{ campaign.subject }}"),
        ('{{ index .Subscriber.Attribs "my-key" }}', '{{ subscriber.attributes["my-key"] }}'),
    ],
)
@pytest.mark.parametrize("content_type", [ContentType.HTML, ContentType.MARKDOWN])
def test_listmonk_syntax_gets_the_jinja2_form(
    body: str, write: str, content_type: ContentType
) -> None:
    error = check(f"<h1>News</h1>\n\n{body}\n", content_type)
    assert "is listmonk syntax: write " + write in error
    assert error.startswith("body: ")


def test_the_hint_is_for_the_failing_line() -> None:
    error = check("<p>ok {{ .Campaign.Name }}</p>\n<p>{{ OptinURL }} {{ .Subscriber.Name }}</p>\n")
    assert "line 1:" in error
    assert "{{ .Campaign.Name }} is listmonk syntax: write {{ campaign.name }}" in error
    second = check("<p>ok</p>\n<p>{{ OptinURL }} {{ .Subscriber.Name }}</p>\n")
    assert "line 2:" in second
    assert "{{ OptinURL }} is listmonk syntax: write {{ optin_url() }}" in second


def test_plain_jinja_errors_get_no_listmonk_hint() -> None:
    error = check("<p>{{ subscriber.name | nosuchfilter }}</p>\n")
    assert "listmonk" not in error


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            "{{ subscriber.nmae }}",
            "subscriber has no field 'nmae' (did you mean subscriber.name?); its fields: "
            "email, name, uuid, attributes, first_name, last_name",
        ),
        (
            "{{ campaign.subjet }}",
            "campaign has no field 'subjet' (did you mean campaign.subject?)",
        ),
        ("{{ campaign.title }}", "campaign has no field 'title'; its fields: name, subject, uuid"),
        ("{{ subscriber.city }}", "an imported attribute is subscriber.attributes.city"),
    ],
)
def test_an_unknown_field_lists_the_fields_there_are(body: str, words: str) -> None:
    assert words in check(f"<p>{body}</p>\n")


def test_is_defined_on_an_unknown_field_still_works() -> None:
    renderer = CampaignRenderer(
        subject="s",
        body="{% if subscriber.nmae is defined %}yes{% else %}no{% endif %}",
        content_type=ContentType.PLAIN,
        alt_body=None,
        layout=None,
        headers=(),
        campaign=CampaignData("c", "s", str(uuid.UUID(int=1)), ()),
        max_output=100_000,
        timeout=2.0,
    )
    from campaignd.rendering.template_data import sample_subscriber

    assert renderer.render(sample_subscriber()).text == "no"


def test_every_mapping_row_translates_and_is_in_the_docs_table() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    table = docs.split("## From listmonk", 1)[1].split("\n## ", 1)[0]
    for listmonk, campaignd in MAPPING:
        body = re.fullmatch(r"\{\{\s*(.*?)\s*\}\}", listmonk)
        assert body is not None
        assert translate(body[1]) == campaignd
        row = f"| `{listmonk}` | `{campaignd}` |".replace(" | safe", " \\| safe")
        assert row in table, row


def test_go_date_layouts_become_strftime() -> None:
    assert go_date_format("Monday, 02 January 2006 15:04:05") == "%A, %d %B %Y %H:%M:%S"
    assert go_date_format("100%") == "100%%"
    assert listmonk_hint("see https://x.org/p@TrackLink") == (
        "https://x.org/p@TrackLink is listmonk syntax: write the plain link https://x.org/p"
    )
    assert listmonk_hint("{{ subscriber.name }}") is None


@pytest.mark.parametrize("content_type", [ContentType.HTML, ContentType.MARKDOWN])
def test_the_track_link_suffix_is_refused_not_sent_as_a_broken_link(
    content_type: ContentType,
) -> None:
    error = check('<p>ok</p>\n<a href="https://x.org/p@TrackLink">x</a>\n', content_type)
    assert error == (
        "body: line 2: https://x.org/p@TrackLink is listmonk syntax (link tracking, not "
        "available yet): write the plain link https://x.org/p"
    )
