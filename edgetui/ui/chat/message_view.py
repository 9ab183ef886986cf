"""One chat message: a role line, the text (an answer as Markdown, streamed; a prompt verbatim) and a stats line."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from edgetui.core.visible_text import visible
from edgetui.ui._textual import OneLayout, layout_settled
from edgetui.ui.chat.chat_markdown import ChatMarkdown
from edgetui.ui.chat.live_tail import RESERVE_LINES, LiveTail, block_boundary
from edgetui.ui.chat.message_list import MessageList
from edgetui.ui.widgets.figure_line import FigureLine

COMMIT_LINES = 24  # finished blocks move to the Markdown once the tail is this long, and 3 screens high

ROLE_LABELS = {"user": "You", "assistant": "Assistant", "system": "System", "notice": "edgetui"}


_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """The contents of the fenced code blocks of a Markdown text, in order."""
    return [m.group(2) for m in _FENCE.finditer(markdown)]


class MessageView(OneLayout, Vertical, can_focus=True):
    """A focusable chat message. An answer streams in two parts: the newest text shows as plain text in a `LiveTail`,
    which repaints only the lines a token changed, and finished Markdown blocks move on to the Markdown through
    `Markdown.get_stream()` once the tail is three screens high (only what has scrolled out of sight) and at the end.
    Each move costs a screen layout; most of the ~20 updates a second cost none. While the list follows the end and
    the tail's top is out of sight, the tail holds a window instead (see `LiveTail`) and nothing moves until the end."""

    FOCUS_ON_CLICK = False  # a click (to select text, say) leaves the focus in the prompt; ↑/↓ move onto a message

    def __init__(self, role: str, text: str = "", *, message_id: int | None = None, status: str = "") -> None:
        super().__init__(classes=f"message {role}")
        self.role = role
        self.text = text
        self.message_id = message_id
        self.status = status
        self.branch: tuple[int, int] = (1, 1)  # position among sibling branches, and their count
        self.unseen = False  # left out of what the model sees (the context was full)
        self._stream: MarkdownStream | None = None
        self._committed = len(text)  # how much of `text` the Markdown has; the rest is in the live tail
        self._tail: LiveTail | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._title(), classes="message-title", markup=False)
        if self.role == "assistant":
            yield ChatMarkdown(self.text, classes="message-body")
        else:  # what the user typed (or the app says), verbatim: line breaks, indentation, no Markdown surprises
            yield Static(visible(self.text), classes="message-body message-verbatim", markup=False)
        if self.role == "assistant" and not self.text:  # an answer about to stream (saved ones need no tail)
            self._tail = LiveTail(classes="message-tail", reserve=RESERVE_LINES)
            yield self._tail
        footer = FigureLine(classes="message-footer")
        footer.display = False  # until there is something to say (a blank line under every prompt otherwise)
        yield footer

    def _title(self) -> str:
        label = ROLE_LABELS.get(self.role, self.role)
        pos, count = self.branch
        branch = f"  ‹{pos}/{count}›" if count > 1 else ""
        unseen = "  · not seen by the model (context full)" if self.unseen else ""
        return f"{label}{branch}{unseen}"

    def set_unseen(self, unseen: bool) -> None:
        if unseen != self.unseen:
            self.unseen = unseen
            self.set_class(unseen, "-unseen")
            if self.is_mounted:
                self.query_one(".message-title", Static).update(self._title())

    @property
    def body(self) -> Markdown:
        """An answer's Markdown (prompts and notices have a verbatim Static instead)."""
        return self.query_one(".message-body", Markdown)

    def set_branch(self, position: int, count: int) -> None:
        self.branch = (position, count)
        if self.is_mounted:
            self.query_one(".message-title", Static).update(self._title())

    def set_footer(self, text: str, *, warn: bool = False) -> None:
        """The line under the message: its figures (wrapped between them, never inside one), or what went wrong."""
        footer = self.query_one(".message-footer", FigureLine)
        footer.update(visible(text))  # (an error a server sent, say)
        footer.display = bool(text)
        footer.set_class(warn, "-warn")

    @property
    def tail(self) -> LiveTail | None:
        """The plain-text end of an answer while it streams; None once it is all Markdown."""
        return self._tail

    def make_room(self) -> None:
        """Once laid out at the end of the list: room for the answer's first lines down to the bottom of the view, under
        its question (the question in sight at the top, as in web chats). Its first screen of text then costs no
        screen layout. The room stays after the end (`keep_room`), so a short answer does not move the list."""
        tail, parent = self._tail, self.parent
        if tail is None or tail.window or not isinstance(parent, MessageList) or not self.is_mounted:
            return
        siblings = parent.children
        index = siblings.index(self)
        question = siblings[index - 1] if index else None
        view = parent.scrollable_content_region
        below = self.region.bottom - tail.region.bottom + self.styles.margin.bottom  # the footer and margin
        above = tail.region.y - (question.region.y if isinstance(question, MessageView) else self.region.y)
        room = view.height - min(above, view.height // 2) - below
        if room > tail.reserve:
            tail.set_reserve(room)

    def keep_room(self) -> None:
        """The answer is complete: keep its height while it is the last one (the room under a short answer)."""
        tail = self._tail
        if tail is not None and tail.reserve > RESERVE_LINES:  # (its height as last set, laid out or not)
            self.styles.min_height = self.region.height - tail.region.height + tail.size_wanted

    def release_room(self) -> None:
        self.styles.min_height = None

    async def append(self, text: str) -> None:
        self.text += text
        tail = self._tail
        if tail is None:  # a view made with text (the tail is composed for a new, empty answer)
            tail = self._tail = LiveTail(classes="message-tail")
            await self.mount(tail, before=self.query_one(".message-footer"))
        pending = self.text[self._committed :]
        tail.set_text(self._tail_text(pending))
        if tail.window:  # everything stays in the tail until the end: a commit would lay out the screen
            return
        parent = self.parent
        # Its top has scrolled out of sight while the list follows the end: nothing above it is seen, so it can stop
        # growing (once it is where the last layout put it).
        following = isinstance(parent, MessageList) and parent.following and layout_settled(tail)
        if following and tail.region.y < parent.region.y:
            tail.hold_window()
            return
        count = tail.line_count
        view = parent.size.height if isinstance(parent, Widget) else 0
        if count < max(COMMIT_LINES, 3 * view):
            return
        # Only blocks that have scrolled out of sight: their reflow as Markdown is not seen, and it happens rarely.
        cut = int(len(pending) * (count - max(view, 1)) / count)
        boundary = self._committed + block_boundary(pending[:cut])
        if boundary > self._committed:
            await self._commit(boundary)
            tail.set_text(self._tail_text(self.text[boundary:]))

    def _tail_text(self, pending: str) -> str:
        """What the tail shows of the text the Markdown does not have yet: after Markdown blocks, the blank line that
        separates blocks (the Markdown's last block has no margin)."""
        pending = visible(pending.lstrip("\n"))  # model text: its control characters shown as marks
        return "\n" + pending if self._committed else pending

    async def _commit(self, upto: int) -> None:
        """Hand `text` up to `upto` to the Markdown (a screen layout)."""
        if self._stream is None:
            self._stream = Markdown.get_stream(self.body)
        await self._stream.write(self.text[self._committed : upto])
        self._committed = upto

    async def finish(self) -> None:
        """The answer is complete (or stopped): the block in progress joins the Markdown."""
        if self._committed < len(self.text):
            await self._commit(len(self.text))
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self._tail is not None:
            await self._tail.remove()  # a widget less for every answer in a long session
            self._tail = None

    async def replace_text(self, text: str) -> None:
        await self.finish()
        self.text = text
        self._committed = len(text)
        await self.body.update(text)
