"""One side of the compare screen: model name, load state, and each turn's prompt and streamed answer."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from edgetui.core.chat.stats_text import answer_footer
from edgetui.core.types import StopReason
from edgetui.core.visible_text import visible
from edgetui.ui.chat.chat_markdown import ChatMarkdown
from edgetui.ui.widgets.figure_line import FigureLine


def divergence_text(answer: str, start: int, end: int) -> Text:
    """The answer with the first differing token in reverse video and everything after it in italics."""
    start = max(0, min(start, len(answer)))
    end = max(start, min(end, len(answer)))
    text = Text(visible(answer[:start]))  # (model text: its control characters as marks)
    token = visible(answer[start:end]) or "∅"  # B stopped where A went on: mark the end
    text.append(token, style="bold reverse")
    text.append(visible(answer[end:]), style="italic")
    return text


class CompareColumn(Vertical):
    """Streams answers with `Markdown.get_stream()`; after a turn the divergent part can be marked."""

    def __init__(self, side: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="cmp-column")
        self.side = side
        self.answers: list[str] = []  # every turn's answer text, as streamed
        self.state = ""
        self._stream: MarkdownStream | None = None
        self._answer: Markdown | None = None
        self._foot: FigureLine | None = None
        self._pending = False  # the last turn has not finished yet

    def compose(self) -> ComposeResult:
        with Horizontal(classes="cmp-head"):
            yield Static(f"{self.side.upper()} · (no model)", classes="cmp-name", markup=False)  # (a file's name)
            yield Static("", classes="cmp-state", markup=False)
        yield VerticalScroll(classes="cmp-turns")

    @property
    def turns(self) -> VerticalScroll:
        return self.query_one(".cmp-turns", VerticalScroll)

    @property
    def text(self) -> str:
        """The last answer."""
        return self.answers[-1] if self.answers else ""

    def set_model(self, name: str, quant: str = "") -> None:
        label = f"{self.side.upper()} · {name}" + (f" [{quant}]" if quant and quant not in name else "")
        self.query_one(".cmp-name", Static).update(visible(label))

    def set_state(self, text: str, *, warn: bool = False) -> None:
        self.state = text
        state = self.query_one(".cmp-state", Static)
        state.update(visible(text))
        state.set_class(warn, "-warn")

    async def clear(self) -> None:
        await self.finish_stream()
        self.answers = []
        self._answer = self._foot = None
        await self.turns.remove_children()
        self.set_state("")

    async def start_turn(self, prompt: str) -> None:
        await self.finish_stream()
        self.answers.append("")
        self._answer = ChatMarkdown("", classes="cmp-answer")
        self._foot = FigureLine("…", classes="cmp-foot")
        self._pending = True
        await self.turns.mount_all([Static(Text(visible(prompt)), classes="cmp-user"), self._answer, self._foot])
        self.turns.scroll_end(animate=False)

    async def append(self, text: str) -> None:
        if self._answer is None or not text:
            return
        if self._stream is None:
            self._stream = Markdown.get_stream(self._answer)
        self.answers[-1] += text
        await self._stream.write(text)
        self.turns.scroll_end(animate=False)

    async def finish_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()

    async def finish(self, result: Any) -> None:
        """End the turn with a SideResult: its text (authoritative) and its stats line."""
        await self.finish_stream()
        if self._answer is None or self._foot is None:
            return
        stats = result.stats
        self._pending = False
        if self.answers and self.answers[-1] != result.answer:
            self.answers[-1] = result.answer
            await self._answer.update(result.answer)
        footer, warn = answer_footer(stats)
        self._foot.update(visible(footer))
        self._foot.set_class(warn, "-warn")
        if not result.answer and stats.stop_reason is StopReason.EOS:
            await self._answer.update("*(empty answer)*")

    def fail(self, error: str) -> None:
        if self._foot is not None and self._pending:
            self._pending = False
            self._foot.update(visible(f"error: {error}"))
            self._foot.set_class(True, "-warn")

    async def mark_divergence(self, start: int | None, end: int | None) -> None:
        """Replace the last answer's Markdown with plain text where the divergent part is marked."""
        if self._answer is None or start is None or not self.answers:
            return
        answer = self.answers[-1]
        marked = Static(divergence_text(answer, start, end if end is not None else len(answer)),
                        classes="cmp-answer cmp-marked")  # fmt: skip
        await self.turns.mount(marked, after=self._answer)
        self._answer.display = False
        self.turns.scroll_end(animate=False)

    async def show_turn(self, prompt: str, answer: str, footer: str) -> None:
        """A turn restored from the store."""
        await self.start_turn(prompt)
        self.answers[-1] = answer
        self._pending = False
        if self._answer is not None and self._foot is not None:
            await self._answer.update(answer or "_(empty)_")
            self._foot.update(visible(footer))

    @property
    def marked(self) -> str:
        """The plain text of the last marked answer ('' when none is marked)."""
        found = list(self.turns.query(".cmp-marked").results(Static))
        return str(found[-1].render()) if found else ""
