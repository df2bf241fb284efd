"""Source-to-source conversions done once per campaign: Markdown to an HTML template, and an
HTML template to a plain-text template, both keeping the Jinja markup intact.

Both work the same way: the Jinja markup (``{{ ... }}``, ``{% ... %}``, ``{# ... #}``) is cut out
and replaced by inert placeholders, the remaining document is converted (markdown-it-py, or
``textify``), and the markup is put back. Data never goes through Markdown or HTML parsing: it
is inserted later by the template, escaped for HTML. A conversion that cannot keep every block
tag exactly once and in order returns None (text) or raises TemplateError (Markdown); compose
then falls back to converting each rendered message.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from markdown_it import MarkdownIt

from campaignd.errors import TemplateError
from campaignd.rendering.textify import textify_template

_RAW_START = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
_RAW_END = re.compile(r"\{%[-+]?\s*endraw\s*[-+]?%\}")
_OPEN = "([{"
_CLOSE = ")]}"


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    markup: bool = False

    @property
    def block(self) -> bool:
        return self.markup and self.text.startswith("{%")

    @property
    def raw(self) -> bool:
        return self.markup and _RAW_START.match(self.text) is not None


def _scan(source: str, pos: int, closer: str) -> int:
    """Index just past `closer` ending the tag body starting at `pos`, as Jinja's lexer sees it."""
    depth = 0
    i, n = pos, len(source)
    while i < n:
        ch = source[i]
        if ch in "'\"":
            i += 1
            while i < n and source[i] != ch:
                i += 2 if source[i] == "\\" else 1
        elif depth == 0 and source.startswith(closer, i):
            return i + 2
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE and depth:
            depth -= 1
        i += 1
    raise TemplateError(f"unterminated {closer[0]}-tag")


def split_markup(source: str) -> list[Piece]:
    """The source as alternating literal text and Jinja markup pieces."""
    pieces: list[Piece] = []
    start = i = 0
    while (j := source.find("{", i)) >= 0 and j + 1 < len(source):
        kind = source[j + 1]
        if kind not in "{%#":
            i = j + 1
            continue
        if kind == "#":
            end = source.find("#}", j + 2)
            if end < 0:
                raise TemplateError("unterminated comment")
            end += 2
        elif kind == "%" and _RAW_START.match(source, j):
            m = _RAW_END.search(source, j)
            if m is None:
                raise TemplateError("unterminated raw block")
            end = m.end()
        else:
            end = _scan(source, j + 2, "}}" if kind == "{" else "%}")
        if j > start:
            pieces.append(Piece(source[start:j]))
        pieces.append(Piece(source[j:end], markup=True))
        start = i = end
    if start < len(source):
        pieces.append(Piece(source[start:]))
    return pieces


class _Masked:
    def __init__(self, pieces: list[Piece]) -> None:
        self.nonce = secrets.token_hex(4)
        self.markups: list[Piece] = []
        self.pattern = re.compile(rf"zq{self.nonce}(\d+)qz")
        shared: dict[str, int] = {}  # the same expression twice gets the same placeholder
        out = []
        for piece in pieces:
            if not piece.markup:
                out.append(piece.text)
                continue
            index = shared.get(piece.text)
            if index is None:
                index = len(self.markups)
                self.markups.append(piece)
                if not piece.block:
                    shared[piece.text] = index
            out.append(self.placeholder(index))
        self.text = "".join(out)

    def placeholder(self, index: int) -> str:
        return f"zq{self.nonce}{index}qz"

    def blocks_kept(self, converted: str) -> bool:
        """Every block tag survives exactly once, in its original order."""
        seen = [int(m[1]) for m in self.pattern.finditer(converted)]
        blocks = [i for i in seen if self.markups[i].block]
        expected = [i for i, p in enumerate(self.markups) if p.block]
        return blocks == expected

    def unmask(self, converted: str, literal: bool = False) -> str:
        """Put the markup back; with `literal`, make the converted text itself inert Jinja."""
        out, pos = [], 0
        for m in self.pattern.finditer(converted):
            out.append(
                _inert(converted[pos : m.start()]) if literal else converted[pos : m.start()]
            )
            out.append(self.markups[int(m[1])].text)
            pos = m.end()
        tail = converted[pos:]
        out.append(_inert(tail) if literal else tail)
        return "".join(out)


def _inert(text: str) -> str:
    return text.replace("{", '{{ "{" }}') if "{" in text else text


_MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def markdown_to_html(source: str) -> str:
    """An HTML template from a Markdown template (converted once, before any data)."""
    masked = _Masked(split_markup(source))
    html = _MARKDOWN.render(masked.text)

    def unwrap(m: re.Match[str]) -> str:
        index = int(masked.pattern.fullmatch(m[1])[1])  # type: ignore[index]
        return m[1] if masked.markups[index].block else m[0]

    # A block tag alone on its line would become an empty paragraph around its output.
    html = re.sub(rf"<p>(zq{masked.nonce}\d+qz)</p>\n?", unwrap, html)
    if not masked.blocks_kept(html):
        raise TemplateError("a {% ... %} tag sits where Markdown moves or drops it")
    return masked.unmask(html)


def html_to_text(source: str, *, keep_edges: bool = False) -> str | None:
    """A plain-text template equivalent to textify(rendered HTML), or None when not derivable.

    With `keep_edges` the line breaks the HTML implies before and after itself are kept (a body
    that starts or ends with a paragraph, placed by a layout's ``{{ content }}``).
    """
    try:
        pieces = split_markup(source)
    except TemplateError:
        return None
    if any(p.raw for p in pieces):
        return None
    masked = _Masked(pieces)
    lowered = masked.text.lower()
    if "<pre" in lowered or "<textarea" in lowered:
        return None
    if "<ol" in lowered and any(p.block for p in masked.markups):
        return None  # item numbers depend on how many items the loop renders
    text = textify_template(masked.text)
    if not masked.blocks_kept(text):
        return None
    result = masked.unmask(text, literal=True)
    return result if keep_edges else result.strip("\x01\x02")
