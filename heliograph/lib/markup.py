"""User text to safe HTML: markdown rendered, then sanitised (no raw HTML survives)."""

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
_ALLOWED_SCHEMES = {"http", "https", "mailto"}


def _clean(html: str) -> str:
    return nh3.clean(html, url_schemes=_ALLOWED_SCHEMES, link_rel="nofollow noopener noreferrer")


def render_markdown(text: str) -> str:
    return _clean(_md.render(text))


def render_inline_markdown(text: str) -> str:
    """Emphasis, links and line breaks only, for places that allow no block elements."""
    return _clean(_md.renderInline(text.strip()))
