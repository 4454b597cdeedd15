"""User text to safe HTML: markdown rendered, then sanitised (no raw HTML survives)."""

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True})
_ALLOWED_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> str:
    return nh3.clean(
        _md.render(text),
        url_schemes=_ALLOWED_SCHEMES,
        link_rel="nofollow noopener noreferrer",
    )
