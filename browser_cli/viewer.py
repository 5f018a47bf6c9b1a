"""HTML as readable terminal text: headings, lists, emphasis, code and numbered links.

A small ``html.parser`` walk that writes styled ``rich`` text: pretty on a terminal and
plain, still structured text (``#`` headings, bullets, indented code) when piped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from rich.text import Text

SKIP = {"script", "style", "template", "noscript", "svg", "iframe", "object", "canvas"}
BLOCKS = {"div", "section", "article", "header", "footer", "nav", "main", "aside", "form",
          "figure", "figcaption", "details", "summary", "address", "tr", "dl", "dt", "dd",
          "fieldset", "caption"}
PARAGRAPHS = {"p", "pre", "blockquote", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5",
              "h6", "hr"}
INLINE = {"strong": "bold", "b": "bold", "em": "italic", "i": "italic", "cite": "italic",
          "code": "cyan", "kbd": "cyan", "samp": "cyan", "tt": "cyan", "u": "underline",
          "ins": "underline", "s": "strike", "del": "strike", "strike": "strike",
          "mark": "reverse", "th": "bold", "dt": "bold"}
HEADING = {"h1": "bold underline", "h2": "bold", "h3": "bold", "h4": "bold italic",
           "h5": "italic", "h6": "italic"}


@dataclass(frozen=True)
class Link:
    number: int
    href: str
    text: str


@dataclass
class Page:
    title: str
    text: Text
    links: list[Link] = field(default_factory=list)


class _Renderer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self.links: list[Link] = []
        self.title = ""
        self._styles: list[str] = []
        self._skip: list[str] = []
        self._in_title = False
        self._pre = 0
        self._lists: list[int | None] = []  # None for <ul>, the next number for <ol>
        self._quote = 0
        self._breaks = 0  # newlines owed before the next text
        self._space = False
        self._line_start = True
        self._bullet = ""
        self._link: tuple[str, list[str]] | None = None
        self._cells = 0

    # -- output ---------------------------------------------------------------------

    def _indent(self) -> str:
        depth = len(self._lists)
        prefix = "│ " * self._quote + "  " * max(0, depth - 1)
        if self._bullet:
            prefix, self._bullet = prefix + self._bullet, ""
        elif depth:
            prefix += "  "
        return prefix + ("    " if self._pre else "")

    def _block(self, lines: int) -> None:
        if self.text.plain:
            self._breaks = max(self._breaks, lines)
        self._space = False

    def _write(self, text: str, style: str = "") -> None:
        if self._breaks:
            self.text.append("\n" * self._breaks)
            self._breaks, self._line_start = 0, True
        if self._line_start:
            self.text.append(self._indent())
            self._line_start, self._space = False, False
        elif self._space:
            self.text.append(" ")
            self._space = False
        self.text.append(text, style=style or " ".join(self._styles) or None)

    def _newline(self) -> None:
        self.text.append("\n")
        self._line_start, self._space, self._breaks = True, False, 0

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        if self._link is not None:
            self._link[1].append(data)
        if self._pre:
            for i, line in enumerate(data.split("\n")):
                if i:
                    self._newline()
                if line:
                    self._write(line)
            return
        words = data.split()
        if not words:
            self._space = self._space or (bool(data) and not self._line_start)
            return
        if data[0].isspace() and not self._line_start:
            self._space = True
        for i, word in enumerate(words):
            if i:
                self._space = True
            self._write(word)
        self._space = data[-1].isspace()

    # -- tags -----------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip or tag in SKIP:
            if tag in SKIP:
                self._skip.append(tag)
            return
        attr = dict(attrs)
        if tag == "title":
            self._in_title = True
        elif tag in PARAGRAPHS or tag in BLOCKS or tag == "li":
            self._open_block(tag)
        if tag in ("td", "th"):
            if self._cells:
                self._write(" | ", "dim")
            self._cells += 1
        if tag in HEADING:
            self._styles.append(HEADING[tag])
            self._write("#" * int(tag[1]) + " ")
            self._space = False
        elif tag in INLINE:
            self._styles.append(INLINE[tag])
        elif tag == "a" and attr.get("href"):
            self._link = (attr["href"] or "", [])
            self._styles.append("underline")
        elif tag == "br":
            self._newline()
        elif tag == "hr":
            self._write("─" * 40, "dim")
            self._block(2)
        elif tag == "img":
            alt = (attr.get("alt") or "").strip()
            self._write(f"[image: {alt}]" if alt else "[image]", "dim")

    def _open_block(self, tag: str) -> None:
        self._block(2 if tag in PARAGRAPHS and not (tag in ("ul", "ol") and self._lists)
                    else 1)
        if tag == "pre":
            self._pre += 1
        elif tag == "blockquote":
            self._quote += 1
        elif tag in ("ul", "ol"):
            self._lists.append(1 if tag == "ol" else None)
        elif tag == "li" and self._lists:
            number = self._lists[-1]
            self._bullet = "• " if number is None else f"{number}. "
            if number is not None:
                self._lists[-1] = number + 1
        elif tag == "tr":
            self._cells = 0
        elif tag == "dd":
            self._bullet = "    "

    def handle_endtag(self, tag: str) -> None:
        if self._skip:
            if tag == self._skip[-1]:
                self._skip.pop()
            return
        if tag == "title":
            self._in_title = False
            self.title = " ".join(self.title.split())
            return
        if (tag in HEADING or tag in INLINE) and self._styles:
            self._styles.pop()
        if tag == "a" and self._link is not None:
            self._styles.pop()
            href, words = self._link
            self._link = None
            number = len(self.links) + 1
            self.links.append(Link(number, href, " ".join("".join(words).split())))
            self.text.append(f"[{number}]", style="bold blue")
        if tag in PARAGRAPHS or tag in BLOCKS or tag == "li":
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
                self.text.rstrip()
                self._line_start = False
            elif tag == "blockquote":
                self._quote = max(0, self._quote - 1)
            elif tag in ("ul", "ol") and self._lists:
                self._lists.pop()
            self._block(2 if tag in PARAGRAPHS and not self._lists else 1)


def render_html(html: str) -> Page:
    """Render a page; the title falls back to the first heading's text."""
    renderer = _Renderer()
    renderer.feed(html)
    renderer.close()
    text = renderer.text
    text.rstrip()
    title = renderer.title or _first_heading(text.plain)
    return Page(title, text, renderer.links)


def _first_heading(plain: str) -> str:
    match = re.search(r"^#+ (.+)$", plain, re.MULTILINE)
    return match.group(1).strip() if match else ""
