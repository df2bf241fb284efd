"""HTML to readable plain text for the text/plain alternative (stdlib html.parser only).

Paragraph-like elements become blank-line separated blocks, ``<br>`` a line break, list items
``- item`` (``1. item`` in ordered lists), links ``text (url)``; scripts, styles and the document
head are dropped, entities decoded, whitespace collapsed (kept inside ``<pre>``). ``tidy`` is the
final clean-up (trailing spaces, indentation, runs of blank lines); compose applies it also to
text produced from a pre-converted text template, so both paths give the same shape.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "pre", "hr", "ul", "ol"}
)
_BLOCK = frozenset(
    {
        "div", "tr", "td", "th", "section", "article", "header", "footer", "nav", "aside",
        "main", "form", "fieldset", "figure", "figcaption", "address", "dl", "dt", "dd",
        "center", "tbody", "thead", "tfoot", "caption", "li", "body", "html",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_WS = re.compile(r"[ \t\n\r\f\v\u00a0]+")
_PRE_MARK = "\x00"  # protects a <pre> line's indentation from tidy()
#: Line breaks owed by block elements, in template mode: adjacent ones merge to the larger.
_MARK = {1: "\x01", 2: "\x02"}
#: A run of markers, spaces and newlines starting at a marker becomes two newlines when it
#: holds a \x02 or a newline, else one. With each \x02 first spelt "\x01\n" every run starts
#: with \x01 and "holds a newline" says it all; a literal first character lets the regex
#: engine skip to candidates (a class such as [\x01\x02] is tried at every position, ~10x
#: slower on a 3 kB text).
_RUN_OF_TWO = re.compile(r"\x01[\x01 \t]*\n[\n\x01 \t]*")
_RUN_OF_ONE = re.compile(r"\x01[\x01 \t]*")


def resolve_markers(text: str) -> str:
    """Each maximal run of [\\x01\\x02\\n \\t] that starts at a marker, as newlines:
    markers merge to the larger break (\\x02 two, \\x01 one) and a newline in the run adds
    one, at most two in all."""
    if "\x02" in text:
        text = text.replace("\x02", "\x01\n")
    if "\x01" in text:
        text = _RUN_OF_TWO.sub("\n\n", text)
        if "\x01" in text:
            text = _RUN_OF_ONE.sub("\n", text)
    return text


class _Textifier(HTMLParser):
    def __init__(self, markers: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.markers = markers
        self.parts: list[str] = []
        self.breaks = 0  # newlines owed before the next text
        self.at_line_start = True
        self.skip = 0
        self.pre = 0
        self.lists: list[list[int]] = []  # [ordered, counter]
        self.links: list[tuple[str, int]] = []

    # -- output helpers
    def _owe(self, n: int) -> None:
        if self.parts or self.markers:
            self.breaks = max(self.breaks, n)

    def _flush_breaks(self) -> None:
        self.parts.append(_MARK[self.breaks] if self.markers else "\n" * self.breaks)
        self.breaks = 0

    def _emit(self, text: str) -> None:
        if self.breaks:
            self._flush_breaks()
            self.at_line_start = True
        if self.at_line_start:
            text = text.lstrip(" ")
            if not text:
                return
        self.parts.append(text)
        self.at_line_start = text.endswith("\n")

    # -- parser callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        if tag == "br":
            self.parts.append("\n")
            self.at_line_start = True
        elif tag in ("ul", "ol"):
            self._owe(1 if self.lists else 2)
            self.lists.append([tag == "ol", 0])
        elif tag in _PARAGRAPH:
            self._owe(2)
            if tag == "pre":
                self.pre += 1
        elif tag == "li":
            self._owe(1)
            if self.lists:
                self.lists[-1][1] += 1
                ordered, count = self.lists[-1]
                self._emit(f"{count}. " if ordered else "- ")
            else:
                self._emit("- ")
        elif tag in _BLOCK:
            self._owe(1)
        elif tag == "a":
            self.links.append((_attr(attrs, "href"), len(self.parts)))
        elif tag == "img":
            alt = _attr(attrs, "alt").strip()
            if alt:
                self.handle_data(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            return
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img", "hr", "li", "a"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self._owe(1 if self.lists else 2)
        elif tag in _PARAGRAPH:
            self._owe(2)
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
        elif tag in _BLOCK:
            self._owe(1)
        elif tag == "a" and self.links:
            href, start = self.links.pop()
            self._close_link(href.strip(), "".join(self.parts[start:]).strip(" \n\x01\x02"))

    def _close_link(self, href: str, text: str) -> None:
        if not href or href.startswith(("#", "javascript:")):
            return
        shown = href[7:] if href.startswith("mailto:") else href
        if text in (href, shown):
            return
        self._emit(f" ({shown})" if text else shown)

    def handle_data(self, data: str) -> None:
        if self.skip or not data:
            return
        if self.pre:
            data = data.replace("\r\n", "\n").replace("\r", "\n")
            if self.breaks or self.at_line_start:
                data = _PRE_MARK + data
            self._emit_raw(data.replace("\n", "\n" + _PRE_MARK))
            return
        self._emit(_WS.sub(" ", data))

    def _emit_raw(self, text: str) -> None:
        if self.breaks:
            self._flush_breaks()
        self.parts.append(text)
        self.at_line_start = text.endswith("\n")


def _attr(attrs: list[tuple[str, str | None]], name: str) -> str:
    for key, value in attrs:
        if key == name:
            return value or ""
    return ""


def tidy(text: str) -> str:
    """Strip each line, keep at most one blank line in a row, end without blank lines."""
    text = resolve_markers(text)
    if _PRE_MARK in text:
        text = "\n".join(
            [
                line[1:].rstrip() if line.startswith(_PRE_MARK) else line.strip(" \t")
                for line in text.split("\n")
            ]
        ).replace(_PRE_MARK, "")
    else:
        text = "\n".join([line.strip(" \t") for line in text.split("\n")])
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")


def textify(html: str) -> str:
    """Readable plain text for an HTML document or fragment."""
    parser = _Textifier()
    parser.feed(html)
    parser.close()
    return tidy("".join(parser.parts))


def textify_template(html: str) -> str:
    """Like textify, for a masked template: line breaks stay as merge markers (resolved by
    tidy after rendering), including those owed before and after the whole fragment."""
    parser = _Textifier(markers=True)
    parser.feed(html)
    parser.close()
    if parser.breaks:
        parser._flush_breaks()
    return "".join(parser.parts)
