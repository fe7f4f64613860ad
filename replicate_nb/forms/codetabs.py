"""The form's Code tabs, as on a model's API page: Python, JavaScript and HTTP (cURL), highlighted.

Pygments renders each snippet to HTML with inline styles in the kernel, so the highlighting is
in the widget's state and in a saved notebook, with no front-end code; a copy button sits above
each. The snippets come from `codegen` and never hold the token or a secret.
"""

from __future__ import annotations

from functools import lru_cache

import ipywidgets as widgets
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import BashLexer, JavascriptLexer, PythonLexer

from replicate_nb.forms.codegen import WRITERS
from replicate_nb.forms.front import CopyButton

LANGUAGES = tuple(WRITERS)
_LEXERS = {"Python": PythonLexer, "JavaScript": JavascriptLexer, "HTTP": BashLexer}
_HINTS = {
    "Python": "The official client, <code>pip install replicate</code>; it reads "
    "<code>REPLICATE_API_TOKEN</code>.",
    "JavaScript": "The official client, <code>npm install replicate</code>; it reads "
    "<code>REPLICATE_API_TOKEN</code>. Save as <code>run.mjs</code>, then "
    "<code>node run.mjs</code>.",
    "HTTP": "One request with cURL; <code>Prefer: wait</code> answers when the run ends.",
}


@lru_cache(maxsize=8)
def _formatter() -> HtmlFormatter:
    return HtmlFormatter(noclasses=True, style="default", nowrap=True)


def highlighted(code: str, language: str) -> str:
    """`code` as HTML with inline colours (a `<pre>` block), for one of `LANGUAGES`."""
    body = highlight(code, _LEXERS[language](), _formatter())
    return (
        '<pre style="margin:0;padding:8px;background:#f6f8fa;border-radius:6px;white-space:pre;'
        f'overflow:auto;line-height:1.35">{body}</pre>'
    )


class CodeTabs(widgets.Tab):
    """One tab per language: a hint, a copy button and the highlighted snippet."""

    def __init__(self) -> None:
        self.views = {name: widgets.HTML(_dom_classes=("rnb-code",)) for name in LANGUAGES}
        self.copy = {name: CopyButton(label=f"Copy {name}") for name in LANGUAGES}
        self.code = dict.fromkeys(LANGUAGES, "")
        pages = [
            widgets.VBox(
                [
                    widgets.HBox(
                        [
                            widgets.HTML(
                                f"<small>{_HINTS[name]}</small>", layout=widgets.Layout(flex="1")
                            ),
                            self.copy[name],
                        ],
                        layout=widgets.Layout(align_items="center"),
                    ),
                    self.views[name],
                ]
            )
            for name in LANGUAGES
        ]
        super().__init__(pages, titles=LANGUAGES, _dom_classes=("rnb-code-tabs",))

    def __repr__(self) -> str:
        return "CodeTabs()"

    def show(self, code: dict[str, str]) -> None:
        """Show new snippets (re-rendered only where they changed)."""
        for name, snippet in code.items():
            if self.code[name] != snippet:
                self.code[name] = snippet
                self.views[name].value = highlighted(snippet, name)
                self.copy[name].text = snippet
