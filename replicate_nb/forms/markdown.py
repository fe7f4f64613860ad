"""Model authors' Markdown (field descriptions) to safe HTML: no raw HTML, links open in a new tab.

Descriptions come from whoever published the model, so they are untrusted text. markdown-it-py
(CommonMark) renders them with raw HTML switched off, which escapes every tag the author wrote
instead of passing it through, and with its link validation, which drops `javascript:`,
`vbscript:`, `file:` and non-image `data:` links. What comes out can only hold the tags Markdown
itself makes, so no separate sanitiser is needed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.disable("image")  # a description's image would be fetched from a third-party host

    def link_open(renderer: Any, tokens: list[Any], idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


@lru_cache(maxsize=4096)
def render_markdown(text: str) -> str:
    """HTML for a Markdown description; one paragraph comes out without its `<p>` wrapper."""
    html = _parser().render(text).strip()
    if html.startswith("<p>") and html.endswith("</p>") and html.count("<p>") == 1:
        html = html[3:-4]
    return html
