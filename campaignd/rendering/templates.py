"""Campaign rendering: every template of a campaign compiled once into one sandboxed render.

Templates see ``subscriber`` (email, name, first_name, last_name, uuid, attributes),
``campaign`` (name, subject, uuid, tags; after the subject itself, ``campaign.subject`` is the
subject as rendered for this subscriber) and the functions ``unsubscribe_url()``,
``optin_url()``, ``manage_url()``, ``archive_url()`` and ``date(fmt)``. HTML bodies (and
Markdown bodies, converted to an HTML template once) are autoescaped; subject, header values
and text parts are not. A layout wraps the HTML body through ``{{ content }}``; layouts do not
apply to plain-text campaigns.

For speed the subject, header values, text part and HTML part are sections of one compiled
template, rendered in one pass and split on a random separator. Without an alt body the text
part comes from a text template derived from the HTML source (rendering.source.html_to_text),
checked once against textify(rendered HTML) on sample data; when it cannot be derived or does
not match, each rendered HTML body is converted instead (slower, same result). The one known
difference: data inserted by the derived template keeps its own spacing (HTML collapses it).

This module compiles and renders; the joined source is built in template_source.py and what
templates see (subscriber, campaign, attributes, link functions) is in template_data.py.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType

import jinja2

from campaignd.domain import ContentType
from campaignd.errors import DataError, SlowRender, TemplateError
from campaignd.rendering import template_data as data
from campaignd.rendering.sandbox import LimitedSandbox
from campaignd.rendering.template_data import (
    Attributes,
    BlankAttributes,
    CampaignData,
    SubscriberData,
    sample_subscriber,
)
from campaignd.rendering.template_source import CampaignSource, check_layout_source
from campaignd.rendering.textify import textify, tidy


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    headers: tuple[str, ...]
    text: str | None
    html: str | None


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
        source = self._source = CampaignSource(
            env,
            subject=subject,
            body=body,
            content_type=content_type,
            alt_body=alt_body,
            layout=layout,
            headers=headers,
        )
        # Copied out of the source: render reads them per message.
        self._sep = source.sep
        self._n_headers = source.n_headers
        self._sections = source.sections
        self.has_html = source.has_html
        #: "plain", "alt", "derived" or "convert": see CampaignSource.text_mode
        self.text_mode = source.text_mode
        self._compile()
        self.campaign = campaign
        env.trust(
            types=(SubscriberData, CampaignData),
            mappings=(Attributes, BlankAttributes),
            functions=(
                data.unsubscribe_url,
                data.optin_url,
                data.manage_url,
                data.archive_url,
                data.date,
                data.with_subject,
            ),
            labels={SubscriberData: "subscriber", CampaignData: "campaign"},
        )
        self._vars = dict(env.globals)
        self._vars.update(
            unsubscribe_url=data.unsubscribe_url,
            optin_url=data.optin_url,
            manage_url=data.manage_url,
            archive_url=data.archive_url,
            date=data.date,
            campaign=campaign,
            _cd_with_subject=data.with_subject,
        )
        if self.text_mode == "derived" and not self._derived_text_matches():
            self.text_mode = "convert"

    def _compile(self) -> None:
        try:
            code = self.env.compile(self._source.text, name="campaign", filename="<campaign>")
        except jinja2.TemplateSyntaxError as exc:
            raise self._source.located(exc.message or str(exc), exc.lineno) from None
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
        return self._source.located(reason, line)


def _walk(tb: TracebackType | None) -> Iterator[TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


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
