"""User text to safe HTML: markdown rendered, then sanitised (no raw HTML survives)."""

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
_ALLOWED_SCHEMES = {"http", "https", "mailto"}


def _clean(html: str) -> str:
    return nh3.clean(html, url_schemes=_ALLOWED_SCHEMES, link_rel="nofollow noopener noreferrer")


# Kept per process: a publish renders again only the pages a write touched, and their
# unchanged updates come from here, not from markdown and sanitising once more.
@lru_cache(maxsize=8192)
def render_markdown(text: str) -> str:
    return _clean(_md.render(text))


@lru_cache(maxsize=8192)
def render_inline_markdown(text: str) -> str:
    """Emphasis, links and line breaks only, for places that allow no block elements."""
    return _clean(_md.renderInline(text.strip()))
