"""Markdown as chat answers need it: the author's line breaks kept, long code lines wrapped, nothing cut off."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from textual.await_complete import AwaitComplete
from textual.widgets import Markdown

from edgetui.core.visible_text import visible
from edgetui.ui.chat.code_fence import WrappedFence


def chat_parser() -> MarkdownIt:
    """Textual's default parser ("gfm-like") with every line break kept: a poem or a list written line by line stays
    as it streamed (CommonMark would join those lines into one paragraph)."""
    parser = MarkdownIt("gfm-like", {"breaks": True})
    parser.core.ruler.push("hard_breaks", _hard_breaks)  # `breaks` alone changes only markdown-it's HTML renderer
    return parser


def _hard_breaks(state: StateCore) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


class ChatMarkdown(Markdown):
    """A Markdown widget for model text: hard line breaks, control characters shown as marks (␛), and code blocks
    that wrap their long lines instead of cutting them off at the edge (Textual's fence scrolls sideways with no
    scrollbar, so the end is never seen).
    Copying a code block (`k`) still gives its lines whole: it copies the message's text, not the screen."""

    BLOCKS = {**Markdown.BLOCKS, "fence": WrappedFence, "code_block": WrappedFence}

    def __init__(self, markdown: str = "", *, classes: str | None = None) -> None:
        super().__init__(markdown, classes=classes, parser_factory=chat_parser)

    # Model text is untrusted: its control characters are shown as marks, never sent to the terminal.
    def update(self, markdown: str) -> AwaitComplete:
        return super().update(visible(markdown))

    def append(self, markdown: str) -> AwaitComplete:
        return super().append(visible(markdown))
