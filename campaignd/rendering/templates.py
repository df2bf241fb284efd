"""Campaign rendering: every template of a campaign compiled once into one sandboxed render.

Templates see ``subscriber`` (email, name, first_name, last_name, uuid, attributes),
``campaign`` (name, subject, uuid, tags; after the subject itself, ``campaign.subject`` is the
subject as rendered for this subscriber) and the functions ``unsubscribe_url()``,
``optin_url()`` and ``date(fmt)``. HTML bodies (and Markdown bodies, converted to an HTML
template once) are autoescaped; subject, header values and text parts are not. A layout wraps
the HTML body through ``{{ content }}``; layouts do not apply to plain-text campaigns.

For speed the subject, header values, text part and HTML part are sections of one compiled
template, rendered in one pass and split on a random separator. Without an alt body the text
part comes from a text template derived from the HTML source (render_source.html_to_text),
checked once against textify(rendered HTML) on sample data; when it cannot be derived or does
not match, each rendered HTML body is converted instead (slower, same result). The one known
difference: data inserted by the derived template keeps its own spacing (HTML collapses it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import jinja2
from jinja2 import nodes, pass_context
from jinja2.runtime import Context

from campaignd.domain import ContentType
from campaignd.errors import DataError, SlowRender, TemplateError
from campaignd.rendering.sample import sample_attributes
from campaignd.rendering.sandbox import LimitedSandbox, format_date
from campaignd.rendering.source import html_to_text, markdown_to_html
from campaignd.rendering.textify import textify, tidy

#: Filters whose output differs between an HTML render and a text render of the same source.
_HTML_ONLY_FILTERS = frozenset(
    {"safe", "e", "escape", "forceescape", "urlize", "xmlattr", "tojson"}
)


class Links:
    """Per-recipient link and clock data behind unsubscribe_url(), optin_url() and date()."""

    __slots__ = ("_optin", "now", "unsubscribe")

    def __init__(self, unsubscribe: str, optin: Callable[[], str], now: dt.datetime) -> None:
        self.unsubscribe = unsubscribe
        self._optin = optin
        self.now = now

    def optin(self) -> str:
        return self._optin()


@dataclass(frozen=True, slots=True)
class SubscriberData:
    email: str
    name: str
    uuid: str
    attributes: Mapping[str, Any]
    _links: Links
    first_name: str = field(init=False)
    last_name: str = field(init=False)

    def __post_init__(self) -> None:
        words = self.name.split()
        object.__setattr__(self, "first_name", words[0] if words else "")
        object.__setattr__(self, "last_name", words[-1] if len(words) > 1 else "")


class MissingAttribute(jinja2.StrictUndefined):
    """An attribute this subscriber does not have: false in `{% if %}`, empty in loops, equal
    to nothing, accepted by `default()` and `is defined`, but an error when printed."""

    __slots__ = ()

    def __bool__(self) -> bool:  # type: ignore[override]
        return False

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        return iter(())

    def __len__(self) -> int:  # type: ignore[override]
        return 0

    def __contains__(self, item: object) -> bool:  # type: ignore[override]
        return False

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return isinstance(other, jinja2.Undefined)

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:  # type: ignore[override]
        return id(type(self))


class BlankAttribute(MissingAttribute):
    """A missing attribute under app.missing_attributes = "blank" (listmonk's behaviour): it
    prints as empty text, and ``.x``/``["x"]`` on it give itself, so ``.address.city`` does
    too. Arithmetic on it is still an error."""

    __slots__ = ()

    def __str__(self) -> str:  # type: ignore[override]
        return ""

    def __html__(self) -> str:
        return ""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self


class Attributes(dict[str, Any]):
    """A subscriber's attributes; a key this subscriber lacks gives a MissingAttribute, so
    `{% if subscriber.attributes.city %}` works for everyone, and printing it fails the
    message naming the attribute (app.missing_attributes = "fail")."""

    __slots__ = ()

    def __missing__(self, key: str) -> MissingAttribute:
        return MissingAttribute(hint=f"this subscriber has no attribute {key!r}")


class BlankAttributes(Attributes):
    """Attributes under app.missing_attributes = "blank": a key this subscriber lacks prints
    as empty text."""

    __slots__ = ()

    def __missing__(self, key: str) -> MissingAttribute:
        return BlankAttribute(hint=f"this subscriber has no attribute {key!r}")


@dataclass(frozen=True, slots=True)
class CampaignData:
    name: str
    subject: str
    uuid: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    headers: tuple[str, ...]
    text: str | None
    html: str | None


def _links(ctx: Context) -> Links:
    links = getattr(ctx.parent.get("subscriber"), "_links", None)
    if not isinstance(links, Links):
        raise TemplateError("no subscriber to build a link for")
    return links


@pass_context
def _unsubscribe_url(ctx: Context) -> str:
    return _links(ctx).unsubscribe


@pass_context
def _optin_url(ctx: Context) -> str:
    return _links(ctx).optin()


@pass_context
def _date(ctx: Context, fmt: str = "%Y-%m-%d") -> str:
    return format_date(_links(ctx).now, fmt)


@pass_context
def _with_subject(ctx: Context, campaign: CampaignData, subject: str) -> CampaignData:
    """`campaign` with the subject as rendered for this subscriber (plain text, not Markup:
    an HTML part escapes it like any other data)."""
    return CampaignData(campaign.name, str(subject), campaign.uuid, campaign.tags)


@dataclass(slots=True)
class _Fragment:
    field: str
    start_line: int
    exact: bool  # line numbers are the author's own


def _syntax(env: LimitedSandbox, field: str, source: str) -> nodes.Template:
    try:
        return env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{field}: line {exc.lineno}: {exc.message}") from None


def _uses_html_only(tree: nodes.Template) -> bool:
    return any(f.name in _HTML_ONLY_FILTERS for f in tree.find_all(nodes.Filter)) or any(
        True for _ in tree.find_all((nodes.EvalContextModifier, nodes.ScopedEvalContextModifier))
    )


def check_layout_source(env: LimitedSandbox, source: str) -> None:
    tree = _syntax(env, "template", source)
    if not any(n.name == "content" for n in tree.find_all(nodes.Name) if n.ctx == "load"):
        raise TemplateError("template: it must place the campaign body with {{ content }}")


class CampaignRenderer:
    """All templates of one campaign, compiled once; `render` per recipient."""

    def __init__(
        self,
        *,
        subject: str,
        body: str,
        content_type: ContentType,
        alt_body: str | None,
        layout: str | None,
        headers: Sequence[tuple[str, str]],
        campaign: CampaignData,
        max_output: int,
        timeout: float,
    ) -> None:
        env = self.env = LimitedSandbox(max_output=max_output, timeout=timeout)
        self._sep = f"\x00{secrets.token_hex(16)}\x00"
        self._fragments: list[_Fragment] = []
        self._source: list[str] = []
        self.has_html = content_type is not ContentType.PLAIN
        #: how the text part is made: "plain" (the body), "alt" (alt_body), "derived" (a text
        #: template derived from the HTML) or "convert" (textify each rendered HTML body)
        self.text_mode = "plain"

        def add(field: str, source: str, exact: bool = True) -> None:
            self._source.append("{#\n#}")  # each fragment starts on a line of its own
            self._fragments.append(_Fragment(field, self._line(), exact))
            self._source.append(source)

        def glue(text: str) -> None:
            self._source.append(text)

        def section(html: bool, fill: Callable[[], None]) -> None:
            glue("{% autoescape true %}" if html else "{% autoescape false %}")
            fill()
            glue("{% endautoescape %}" + self._sep)

        _syntax(env, "subject", subject)
        subject_at = len(self._source)
        section(False, lambda: add("subject", subject))
        for name, value in headers:
            _syntax(env, f"header {name}", value)
            section(False, lambda n=name, v=value: add(f"header {n}", v))  # type: ignore[misc]

        if not self.has_html:
            _syntax(env, "body", body)
            section(False, lambda: add("body", body))
            html_body = None
        else:
            if content_type is ContentType.MARKDOWN:
                _syntax(env, "body", body)
                try:
                    html_body = markdown_to_html(body)
                except TemplateError as exc:
                    raise TemplateError(f"body: {exc}") from None
                _syntax(env, "body (as HTML)", html_body)
            else:
                html_body = body
            trees = [_syntax(env, "body", html_body)]
            if layout is not None:
                check_layout_source(env, layout)
                trees.append(_syntax(env, "template", layout))
            exact = content_type is ContentType.HTML
            section(True, lambda: self._wrap(html_body, layout, add, "body", exact))
            if alt_body is not None:
                _syntax(env, "alt_body", alt_body)
                section(False, lambda: add("alt_body", alt_body))
                self.text_mode = "alt"
            elif self._add_derived_text(html_body, layout, trees, section, add):
                self.text_mode = "derived"
            else:
                self.text_mode = "convert"
        self._n_headers = len(headers)
        self._sections = len(headers) + 1 + (1 if self.has_html else 0) + 1
        if "campaign" in "".join(self._source[subject_at + 4 :]):
            self._share_subject(subject_at)
        self._compile()
        self.campaign = campaign
        self.env.trust(
            types=(SubscriberData, CampaignData),
            mappings=(Attributes, BlankAttributes),
            functions=(_unsubscribe_url, _optin_url, _date, _with_subject),
        )
        self._vars = dict(self.env.globals)
        self._vars.update(
            unsubscribe_url=_unsubscribe_url,
            optin_url=_optin_url,
            date=_date,
            campaign=campaign,
            _cd_with_subject=_with_subject,
        )
        if self.text_mode == "derived" and not self._derived_text_matches():
            self.text_mode = "convert"

    # -- building
    def _share_subject(self, at: int) -> None:
        """Let every part after the subject see it as rendered for this subscriber: the
        subject section (glue, marker, source, glue) is captured, output, and put in a copy of
        `campaign`. Only done when a later part names `campaign`: it costs a call per message."""
        opening, marker, source, closing = self._source[at : at + 4]
        self._source[at : at + 4] = [
            "{% set _cd_subject %}" + opening,
            marker,
            source,
            closing.removesuffix(self._sep) + "{% endset %}{{ _cd_subject }}" + self._sep,
            "{% set campaign = _cd_with_subject(campaign, _cd_subject) %}",
        ]

    def _line(self) -> int:
        return "".join(self._source).count("\n") + 1

    def _wrap(
        self, body: str, layout: str | None, add: Callable[..., None], field: str, exact: bool
    ) -> None:
        if layout is None:
            add(field, body, exact)
            return
        self._source.append("{% set content %}")
        add(field, body, exact)
        self._source.append("{% endset %}")
        add("template", layout, exact)

    def _add_derived_text(
        self,
        html_body: str,
        layout: str | None,
        trees: list[nodes.Template],
        section: Callable[[bool, Callable[[], None]], None],
        add: Callable[..., None],
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
            section(
                False, lambda: self._wrap(text_body, text_layout, add, "body (text version)", False)
            )
        else:
            section(False, lambda: None)
        return usable

    def _compile(self) -> None:
        source = "".join(self._source)
        try:
            code = self.env.compile(source, name="campaign", filename="<campaign>")
        except jinja2.TemplateSyntaxError as exc:
            raise self._located(exc.message or str(exc), exc.lineno) from None
        self._template = self.env.template_class.from_code(self.env, code, {}, None)

    def _derived_text_matches(self) -> bool:
        """The derived text template gives what textify gives, on sample data."""
        try:
            rendered = self.render(sample_subscriber())
        except TemplateError:
            return False
        expected = textify(rendered.html or "").split("\n")
        got = tidy(rendered.text or "").split("\n")
        return [" ".join(line.split()) for line in got] == [" ".join(x.split()) for x in expected]

    def check(self) -> None:
        """Render against the sample subscriber: unknown fields, unsafe access, limits."""
        # A DataError depends on real attribute values, which the sample does not have.
        with contextlib.suppress(DataError):
            self.render(sample_subscriber())

    # -- rendering
    def render(self, subscriber: SubscriberData, budget: float | None = None) -> Rendered:
        """Render every part for one subscriber; TemplateError says which field and line.
        With a ``budget`` (seconds) shorter than the timeout, a render still running after it
        raises SlowRender (render it again without one, off the event loop)."""
        env = self.env
        variables = self._vars.copy()
        variables["subscriber"] = subscriber
        template = self._template
        env.start(budget)
        try:
            out: list[str] = []
            size, limit = 0, env.max_output
            for chunk in template.root_render_func(template.new_context(variables, shared=True)):
                out.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise TemplateError(
                        f"the message would be larger than {limit} characters (template_max_output)"
                    )
        except SlowRender:
            raise
        except TemplateError as exc:
            raise self._from_traceback(str(exc), exc.__traceback__) from None
        except jinja2.TemplateError as exc:
            raise self._from_traceback(exc.message or str(exc), exc.__traceback__) from None
        except RecursionError as exc:
            raise self._from_traceback("recursion too deep", exc.__traceback__) from None
        except MemoryError as exc:
            raise self._from_traceback("out of memory", exc.__traceback__) from None
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            error = self._from_traceback(f"{type(exc).__name__}: {exc}", exc.__traceback__)
            raise DataError(str(error)) from None
        except Exception as exc:  # anything else a template expression raised
            raise self._from_traceback(f"{type(exc).__name__}: {exc}", exc.__traceback__) from None
        finally:
            env.stop()
        parts = "".join(out).split(self._sep)
        if len(parts) != self._sections + 1 or parts[-1]:
            raise TemplateError("the rendered message could not be split into its parts")
        n = self._n_headers
        if not self.has_html:
            return Rendered(parts[0], tuple(parts[1 : n + 1]), parts[n + 1], None)
        html, text = parts[n + 1], parts[n + 2]
        if self.text_mode == "derived":
            text = tidy(text)
        elif self.text_mode == "convert":
            text = textify(html)
        return Rendered(parts[0], tuple(parts[1 : n + 1]), text, html)

    @property
    def derived_text(self) -> bool:
        return self.text_mode == "derived"

    def _from_traceback(self, reason: str, tb: TracebackType | None) -> TemplateError:
        line = None
        for frame_tb in _walk(tb):
            template = frame_tb.tb_frame.f_globals.get("__jinja_template__")
            if template is not None:
                line = template.get_corresponding_lineno(frame_tb.tb_lineno)
        return self._located(reason, line)

    def _located(self, reason: str, line: int | None) -> TemplateError:
        if line is None:
            return TemplateError(reason)
        current = None
        for fragment in self._fragments:
            if fragment.start_line <= line:
                current = fragment
        if current is None:
            return TemplateError(reason)
        if not current.exact:
            return TemplateError(f"{current.field}: {reason}")
        return TemplateError(f"{current.field}: line {line - current.start_line + 1}: {reason}")


def _walk(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def sample_subscriber(email: str = "subscriber@example.com", name: str = "Sam Sample") -> Any:
    """Subscriber data for checks and previews: any attribute exists and has a placeholder."""
    now = dt.datetime.now(dt.UTC)
    sample_uuid = str(uuid.UUID(int=0))
    links = Links(
        "https://example.invalid/unsubscribe/sample",
        lambda: "https://example.invalid/optin/sample",
        now,
    )
    return SubscriberData(email, name, sample_uuid, sample_attributes(), links)


def check_layout(body: str, *, max_output: int = 2_000_000, timeout: float = 2.0) -> None:
    """A campaign template (layout) compiles, places {{ content }} and renders on sample data."""
    check_layout_source(LimitedSandbox(max_output=max_output, timeout=timeout), body)
    CampaignRenderer(
        subject="sample",
        body="<p>This is where the campaign body goes.</p>",
        content_type=ContentType.HTML,
        alt_body=None,
        layout=body,
        headers=(),
        campaign=CampaignData("sample", "sample", str(uuid.UUID(int=0)), ()),
        max_output=max_output,
        timeout=timeout,
    ).check()
