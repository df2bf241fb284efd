"""A campaign's templates joined into the one template source the renderer compiles.

Subject, header values, the HTML part and the text part become sections of one source,
separated by a random separator, each under its own autoescape setting; each fragment's first
line is kept so an error in the compiled template names the field and the author's line. How
the text part is made is decided here (see campaignd.rendering.templates)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jinja2
from jinja2 import nodes

from campaignd.domain import ContentType
from campaignd.errors import TemplateError
from campaignd.rendering.listmonk import track_link_suffix, with_hint
from campaignd.rendering.sandbox import LimitedSandbox
from campaignd.rendering.source import html_to_text, markdown_to_html

#: Filters whose output differs between an HTML render and a text render of the same source.
_HTML_ONLY_FILTERS = frozenset(
    {"safe", "e", "escape", "forceescape", "urlize", "xmlattr", "tojson"}
)


@dataclass(slots=True)
class _Fragment:
    field: str
    start_line: int
    exact: bool  # line numbers are the author's own
    source: str  # for the listmonk hint


def parse(env: LimitedSandbox, field: str, source: str) -> nodes.Template:
    """The template's syntax tree; TemplateError naming the field and line if it has none
    (or if it holds listmonk's link-tracking suffix, which would send a broken link)."""
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        reason = with_hint(exc.message or str(exc), source, exc.lineno)
        raise TemplateError(f"{field}: line {exc.lineno}: {reason}") from None
    suffix = track_link_suffix(source)
    if suffix is not None:
        raise TemplateError(f"{field}: line {suffix[0]}: {suffix[1]}")
    return tree


def _uses_html_only(tree: nodes.Template) -> bool:
    return any(f.name in _HTML_ONLY_FILTERS for f in tree.find_all(nodes.Filter)) or any(
        True for _ in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier))
    )


def check_layout_source(env: LimitedSandbox, source: str) -> None:
    tree = parse(env, "template", source)
    if not any(n.name == "content" for n in tree.find_all(nodes.Name) if n.ctx == "load"):
        raise TemplateError("template: it must place the campaign body with {{ content }}")


class CampaignSource:
    """The one source of a campaign's templates, its separator, its sections and fragments."""

    def __init__(
        self,
        env: LimitedSandbox,
        *,
        subject: str,
        body: str,
        content_type: ContentType,
        alt_body: str | None,
        layout: str | None,
        headers: Sequence[tuple[str, str]],
    ) -> None:
        self.env = env
        self.sep = f"\x00{secrets.token_hex(16)}\x00"
        self._fragments: list[_Fragment] = []
        self._source: list[str] = []
        self.has_html = content_type is not ContentType.PLAIN
        #: how the text part is made: "plain" (the body), "alt" (alt_body), "derived" (a text
        #: template derived from the HTML) or "convert" (textify each rendered HTML body)
        self.text_mode = "plain"
        parse(env, "subject", subject)
        subject_at = len(self._source)
        self._section(False, lambda: self._add("subject", subject))
        for name, value in headers:
            parse(env, f"header {name}", value)
            self._section(False, lambda n=name, v=value: self._add(f"header {n}", v))  # type: ignore[misc]
        if self.has_html:
            self._add_html(body, content_type, alt_body, layout)
        else:
            parse(env, "body", body)
            self._section(False, lambda: self._add("body", body))
        self.n_headers = len(headers)
        #: the parts a render splits into: subject, headers, body (and the text part)
        self.sections = len(headers) + 1 + (1 if self.has_html else 0) + 1
        if "campaign" in "".join(self._source[subject_at + 4 :]):
            self._share_subject(subject_at)

    @property
    def text(self) -> str:
        return "".join(self._source)

    def _add(self, field: str, source: str, exact: bool = True) -> None:
        self._source.append("{#\n#}")  # each fragment starts on a line of its own
        self._fragments.append(_Fragment(field, self._line(), exact, source))
        self._source.append(source)

    def _section(self, html: bool, fill: Callable[[], None]) -> None:
        self._source.append("{% autoescape true %}" if html else "{% autoescape false %}")
        fill()
        self._source.append("{% endautoescape %}" + self.sep)

    def _add_html(
        self, body: str, content_type: ContentType, alt_body: str | None, layout: str | None
    ) -> None:
        env = self.env
        if content_type is ContentType.MARKDOWN:
            parse(env, "body", body)
            try:
                html_body = markdown_to_html(body)
            except TemplateError as exc:
                raise TemplateError(f"body: {exc}") from None
            parse(env, "body (as HTML)", html_body)
        else:
            html_body = body
        trees = [parse(env, "body", html_body)]
        if layout is not None:
            check_layout_source(env, layout)
            trees.append(parse(env, "template", layout))
        exact = content_type is ContentType.HTML
        self._section(True, lambda: self._wrap(html_body, layout, "body", exact))
        if alt_body is not None:
            parse(env, "alt_body", alt_body)
            self._section(False, lambda: self._add("alt_body", alt_body))
            self.text_mode = "alt"
        elif self._add_derived_text(html_body, layout, trees):
            self.text_mode = "derived"
        else:
            self.text_mode = "convert"

    def _share_subject(self, at: int) -> None:
        """Let every part after the subject see it as rendered for this subscriber: the
        subject section (glue, marker, source, glue) is captured, output, and put in a copy of
        `campaign`. Only done when a later part names `campaign`: it costs a call per message."""
        opening, marker, source, closing = self._source[at : at + 4]
        self._source[at : at + 4] = [
            "{% set _cd_subject %}" + opening,
            marker,
            source,
            closing.removesuffix(self.sep) + "{% endset %}{{ _cd_subject }}" + self.sep,
            "{% set campaign = _cd_with_subject(campaign, _cd_subject) %}",
        ]

    def _line(self) -> int:
        return "".join(self._source).count("\n") + 1

    def _wrap(self, body: str, layout: str | None, field: str, exact: bool) -> None:
        if layout is None:
            self._add(field, body, exact)
            return
        self._source.append("{% set content %}")
        self._add(field, body, exact)
        self._source.append("{% endset %}")
        self._add("template", layout, exact)

    def _add_derived_text(
        self, html_body: str, layout: str | None, trees: list[nodes.Template]
    ) -> bool:
        text_body = html_to_text(html_body, keep_edges=layout is not None)
        text_layout = html_to_text(layout) if layout is not None else None
        usable = (
            text_body is not None
            and (layout is None or text_layout is not None)
            and not any(_uses_html_only(t) for t in trees)
        )
        if usable:
            try:
                self.env.parse(text_body or "")
                self.env.parse(text_layout or "")
            except jinja2.TemplateSyntaxError:
                usable = False
        if usable:
            assert text_body is not None
            self._section(
                False, lambda: self._wrap(text_body, text_layout, "body (text version)", False)
            )
        else:
            self._section(False, lambda: None)
        return usable

    def located(self, reason: str, line: int | None) -> TemplateError:
        """A TemplateError naming the field (and, where it is the author's, the line) that
        `line` of the joined source belongs to."""
        if line is None:
            return TemplateError(reason)
        current = None
        for fragment in self._fragments:
            if fragment.start_line <= line:
                current = fragment
        if current is None:
            return TemplateError(reason)
        if not current.exact:
            return TemplateError(f"{current.field}: {with_hint(reason, current.source)}")
        at = line - current.start_line + 1
        return TemplateError(f"{current.field}: line {at}: {with_hint(reason, current.source, at)}")
