"""listmonk (Go template) syntax in a campaignd template: spotting it and the Jinja2 to write.

``MAPPING`` is the table docs/templates.md shows ("From listmonk"); a test keeps the two in
step. ``listmonk_hint`` looks at the source of a template that failed (the failing line first)
and, when it holds listmonk syntax, says what to write instead, for the first one it finds.
"""

from __future__ import annotations

import re

#: (listmonk, campaignd): rows of docs/templates.md's "From listmonk" table that have a Jinja2
#: form (that table also lists what has none, such as TrackLink); `translate` gives each.
MAPPING: tuple[tuple[str, str], ...] = (
    ("{{ .Subscriber.Email }}", "{{ subscriber.email }}"),
    ("{{ .Subscriber.Name }}", "{{ subscriber.name }}"),
    ("{{ .Subscriber.FirstName }}", "{{ subscriber.first_name }}"),
    ("{{ .Subscriber.LastName }}", "{{ subscriber.last_name }}"),
    ("{{ .Subscriber.UUID }}", "{{ subscriber.uuid }}"),
    ("{{ .Subscriber.Attribs.city }}", "{{ subscriber.attributes.city }}"),
    ('{{ index .Subscriber.Attribs "my-key" }}', '{{ subscriber.attributes["my-key"] }}'),
    ("{{ .Campaign.Name }}", "{{ campaign.name }}"),
    ("{{ .Campaign.Subject }}", "{{ campaign.subject }}"),
    ("{{ .Campaign.UUID }}", "{{ campaign.uuid }}"),
    ('{{ template "content" . }}', "{{ content }}"),
    ("{{ UnsubscribeURL }}", "{{ unsubscribe_url() }}"),
    ("{{ OptinURL }}", "{{ optin_url() }}"),
    ('{{ Date "2006-01-02" }}', '{{ date("%Y-%m-%d") }}'),
    ('{{ Safe "<b>x</b>" }}', '{{ "<b>x</b>" | safe }}'),
)

#: listmonk's data fields (Go names) and campaignd's.
_FIELDS = {
    "Email": "email",
    "Name": "name",
    "FirstName": "first_name",
    "LastName": "last_name",
    "UUID": "uuid",
    "Attribs": "attributes",
    "Subject": "subject",
    "Tags": "tags",
}
#: Go's reference-date layout pieces and their strftime codes, longest first.
_GO_DATE = (
    ("January", "%B"), ("Monday", "%A"), ("2006", "%Y"), ("Jan", "%b"), ("Mon", "%a"),
    ("MST", "%Z"), ("01", "%m"), ("02", "%d"), ("15", "%H"), ("03", "%I"), ("04", "%M"),
    ("05", "%S"), ("06", "%y"), ("PM", "%p"),
)  # fmt: skip

_ACTION = re.compile(r"\{\{-?\s*(?P<body>.*?)\s*-?\}\}", re.DOTALL)
_PATH = re.compile(r"^\.(?P<root>Subscriber|Campaign)((?:\.\w+)*)$")
_INDEX = re.compile(r'^index\s+\.Subscriber\.Attribs\s+"(?P<key>[^"]*)"$')
_CALL = re.compile(r'^(?P<name>Date|Safe|TrackLink|L\.T)\s+"(?P<arg>[^"]*)"$')
_BARE = {
    "UnsubscribeURL": "{{ unsubscribe_url() }}",
    "OptinURL": "{{ optin_url() }}",
    "TrackView": "nothing (no view tracking yet)",
    "ManageURL": "nothing yet (no preferences page)",
    "MessageURL": "nothing yet (no view-in-browser page)",
    "RootURL": "the address itself",
}
_SUFFIX_TRACKLINK = re.compile(r"""(?P<url>https?://[^\s"'<>]+?)@TrackLink""")


def _path(root: str, rest: str) -> str:
    """.Subscriber.Attribs.city -> subscriber.attributes.city: only the field is renamed."""
    names = rest.split(".")[1:]
    if names:
        names[0] = _FIELDS.get(names[0], names[0].lower())
    return "{{ " + ".".join([root.lower(), *names]) + " }}"


def go_date_format(layout: str) -> str:
    """Go's reference-date layout as a strftime format: "02 Jan 2006" -> "%d %b %Y"."""
    out, i = "", 0
    while i < len(layout):
        for go, code in _GO_DATE:
            if layout.startswith(go, i):
                out, i = out + code, i + len(go)
                break
        else:
            out, i = out + layout[i].replace("%", "%%"), i + 1
    return out


def translate(action: str) -> str | None:
    """The campaignd form of one listmonk action's body (between {{ and }}), or None."""
    body = action.strip()
    if body.startswith("template ") and '"content"' in body:
        return "{{ content }}"
    if body in _BARE:
        return _BARE[body]
    match = _PATH.match(body)
    if match:
        return _path(match["root"], match[2])
    index = _INDEX.match(body)
    if index:
        return f'{{{{ subscriber.attributes["{index["key"]}"] }}}}'
    call = _CALL.match(body)
    if call is None:
        return None
    name, arg = call["name"], call["arg"]
    if name == "Date":
        return f'{{{{ date("{go_date_format(arg)}") }}}}'
    if name == "Safe":
        return f'{{{{ "{arg}" | safe }}}}'
    if name == "TrackLink":
        return f"the plain link {arg} (no link tracking yet)"
    return "the text itself (no translations)"


def _first(text: str) -> str | None:
    for match in _ACTION.finditer(text):
        instead = translate(match["body"])
        if instead is not None:
            return f"{match.group(0).strip()} is listmonk syntax: write {instead}"
    suffix = _SUFFIX_TRACKLINK.search(text)
    if suffix:
        return f"{suffix.group(0)} is listmonk syntax: write the plain link {suffix['url']}"
    return None


def listmonk_hint(source: str, line: int | None = None) -> str | None:
    """For a template that failed: what to write instead of the listmonk syntax on `line`
    (1-based) or, failing that, anywhere in `source`; None when there is none."""
    if line is not None:
        lines = source.split("\n")
        if 1 <= line <= len(lines):
            found = _first(lines[line - 1])
            if found is not None:
                return found
    return _first(source)


def with_hint(reason: str, source: str, line: int | None = None) -> str:
    """`reason`, followed by the listmonk hint for `source` when there is one."""
    hint = listmonk_hint(source, line)
    return reason if hint is None else f"{reason} ({hint}; see docs/templates.md)"


def track_link_suffix(source: str) -> tuple[int, str] | None:
    """(line, problem) for listmonk's `https://…@TrackLink` suffix, which compiles fine in
    Jinja2 but would send a link to the host "TrackLink"; None when there is none."""
    suffix = _SUFFIX_TRACKLINK.search(source)
    if suffix is None:
        return None
    line = source.count("\n", 0, suffix.start()) + 1
    return line, (
        f"{suffix.group(0)} is listmonk syntax (link tracking, not available yet): write the "
        f"plain link {suffix['url']}"
    )
