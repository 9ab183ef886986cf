"""How much of a conversation is on the screen: its last messages, and earlier ones shown when the user scrolls up."""

from __future__ import annotations

import asyncio

from textual.message import Message
from textual.widgets import Static

from edgetui.core.chat.conversation import Conversation
from edgetui.core.chat.stats_text import STATUS_LABEL, answer_footer, stats_from_record
from edgetui.core.store.store import StoredMessage, StoreError
from edgetui.ui.chat.message_list import MessageList
from edgetui.ui.chat.message_view import MessageView


class EarlierMarker(Static):
    """The first line of the list while earlier messages are not shown; a click shows some."""

    class Clicked(Message):
        """The marker was clicked: its pane shows earlier messages."""

    def on_click(self) -> None:
        self.post_message(self.Clicked())


class ChatHistory:
    """The window of a conversation that its `MessageList` shows, owned by the chat pane.

    Every message is a few Textual widgets (~250 KB each), so a long session keeps only its last `WINDOW` messages
    mounted (`SLACK` more before it trims): memory stays flat over hundreds of turns, and a long session opens at
    once. Scrolling to the top of the list, a click on the marker there, or Up on the first message shows `STEP`
    earlier messages, in place. Every message stays in the database and in `conv.thread`."""

    WINDOW = 60
    SLACK = 20
    STEP = 20

    def __init__(self, messages: MessageList) -> None:
        self.messages = messages
        self.hidden = 0  # how many of the thread's messages, from its start, are not mounted
        self._earlier_lock = asyncio.Lock()

    @staticmethod
    def _thread_messages(conv: Conversation) -> list[StoredMessage]:
        return [m for m in conv.thread if m.role in ("user", "assistant")]

    def views(self) -> list[MessageView]:
        return list(self.messages.query(MessageView))

    async def render(self, conv: Conversation, *, keep: bool = False) -> None:
        """Show the conversation's active branch (after opening a session, switching branch, ...): its last
        `WINDOW` messages; with `keep`, at least as many as before (a message the user went back to stays)."""
        msgs = self._thread_messages(conv)
        start = max(0, len(msgs) - self.WINDOW)
        if keep:
            start = min(start, self.hidden)
        self.hidden = start
        lst = self.messages
        await lst.remove_children()
        views = [self._view_for(m) for m in msgs[start:]]
        if start:
            views.insert(0, self._marker())  # type: ignore[arg-type]
        if views:
            await lst.mount_all(views)
        for view, msg in zip(views[1 if start else 0 :], msgs[start:], strict=True):
            self._decorate(conv, view, msg)
        self.mark_unseen(conv)
        lst.scroll_end(animate=False)

    def mark_unseen(self, conv: Conversation) -> None:
        """Mark the messages the model no longer sees (left out when the context was full)."""
        unseen = conv.unseen_ids()
        for view in self.views():
            view.set_unseen(view.message_id in unseen)

    def _marker(self) -> EarlierMarker:
        return EarlierMarker(self._marker_text(), id="earlier")

    def _marker_text(self) -> str:
        count = self.hidden
        return f"▲ {count} earlier message{'s' if count != 1 else ''} · scroll up to show them"

    @staticmethod
    def _view_for(msg: StoredMessage) -> MessageView:
        return MessageView(msg.role, msg.content, message_id=msg.id, status=msg.status)

    @staticmethod
    def _decorate(conv: Conversation, view: MessageView, msg: StoredMessage) -> None:
        store = conv.store
        try:
            view.set_branch(*conv.branches(msg.id))
            runs = store.runs(message_id=msg.id) if msg.role == "assistant" else []
        except StoreError:
            return
        if runs:
            run = runs[-1]
            footer, warn = answer_footer(stats_from_record(run), msg.status)
            if run.get("model_name") and not footer.startswith("error"):
                footer = f"{footer} · {run['model_name']}"
        else:
            footer = STATUS_LABEL.get(msg.status, "")
            warn = bool(footer)
        if footer:
            view.set_footer(footer, warn=warn)

    async def show_earlier(self, conv: Conversation, count: int | None = None) -> int:
        """Mount up to `count` (`STEP`) messages before the first one shown, above it, with the same lines still in
        view; returns how many. One at a time: a second call waits for the first, then shows the next ones."""
        async with self._earlier_lock:
            return await self._show_earlier(conv, count)

    async def _show_earlier(self, conv: Conversation, count: int | None) -> int:
        if not self.hidden:
            return 0
        msgs = self._thread_messages(conv)
        start = max(0, self.hidden - (count or self.STEP))
        views = [self._view_for(m) for m in msgs[start : self.hidden]]
        self.hidden = start
        lst = self.messages
        marker = lst.query_children(EarlierMarker).first()
        first = lst.children[lst.children.index(marker) + 1] if len(lst.children) > 1 else marker
        y = first.virtual_region.y
        await lst.mount_all(views, after=marker)
        for view, msg in zip(views, msgs[start:], strict=False):
            self._decorate(conv, view, msg)
        self.mark_unseen(conv)
        if start:
            marker.update(self._marker_text())
        else:
            await marker.remove()
        if first is not marker:
            lst.keep_in_view(first, y)
        return len(views)

    async def trim(self) -> None:
        """Unmount the oldest messages past `WINDOW` (with `SLACK`), while the user follows the end of the list (the
        lines in view do not move)."""
        lst = self.messages
        shown = [v for v in lst.query_children(MessageView) if v.role in ("user", "assistant")]
        if len(shown) <= self.WINDOW + self.SLACK or not lst.following:
            return
        drop = shown[: len(shown) - self.WINDOW]
        first_kept = shown[len(drop)]
        gone = list(lst.children[: lst.children.index(first_kept)])  # with the notices among them
        self.hidden += len(drop)
        markers = [w for w in gone if isinstance(w, EarlierMarker)]
        await lst.remove_children([w for w in gone if not isinstance(w, EarlierMarker)])
        if markers:
            markers[0].update(self._marker_text())
        else:
            await lst.mount(self._marker(), before=first_kept)
