"""One chat message: a role line, the text as Markdown (streamed for answers) and a status/performance line."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from edgetui.core.types import GenerationStats, StopReason

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "notice": "edgetui"}


_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order."""
    return [m.group(2) for m in _FENCE.finditer(markdown)]


def stats_line(stats: GenerationStats) -> str:
    parts = [
        f"{stats.gen_tokens} tok",
        f"{stats.gen_tps:.1f} tok/s",
        f"TTFT {stats.ttft_s * 1000:.0f} ms",
        f"prompt {stats.prompt_tokens} tok @ {stats.prompt_tps:.0f} tok/s",
    ]
    if stats.stop_reason is not StopReason.EOS:
        parts.append(str(stats.stop_reason))
    return " · ".join(parts)


class MessageView(Vertical, can_focus=True):
    """A focusable chat message; answers stream into their Markdown with `Markdown.get_stream()`."""

    def __init__(self, role: str, text: str = "", *, message_id: int | None = None, status: str = "") -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.text = text
        self.message_id = message_id
        self.status = status
        self.branch: tuple[int, int] = (1, 1)  # position among sibling branches, and their count
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="message-title")
        yield Markdown(self.text, classes="message-body")
        yield Static("", classes="message-footer")

    def _title(self) -> str:
        label = ROLE_LABELS.get(self.role, self.role)
        pos, count = self.branch
        branch = f"  ‹{pos}/{count}›" if count > 1 else ""
        return f"{label}{branch}"

    @property
    def body(self) -> Markdown:
        return self.query_one(".message-body", Markdown)

    def set_branch(self, position: int, count: int) -> None:
        self.branch = (position, count)
        if self.is_mounted:
            self.query_one(".message-title", Static).update(self._title())

    def set_footer(self, text: str, *, warn: bool = False) -> None:
        footer = self.query_one(".message-footer", Static)
        footer.update(text)
        footer.set_class(warn, "-warn")

    async def append(self, text: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        self.text += text
        await self._stream.write(text)

    async def finish(self) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def replace_text(self, text: str) -> None:
        await self.finish()
        self.text = text
        await self.body.update(text)
