"""Reading rendered pages: their elements and their visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Reader(HTMLParser):
    """Collects the visible text and every tag's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def read(body: bytes) -> _Reader:
    reader = _Reader()
    reader.feed(body.decode())
    return reader


def text_of(body: bytes) -> str:
    """Text nodes joined by spaces, as a reader takes in separate elements."""
    return re.sub(r"\s+", " ", " ".join(read(body).parts))
