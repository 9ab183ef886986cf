"""How much of a conversation is on the screen: its last messages, and earlier ones shown when the user scrolls up."""

from __future__ import annotations

import asyncio
from functools import cached_property
from typing import TYPE_CHECKING

from textual.widgets import Static

from edgetui.core.chat.stats_text import STATUS_LABEL, answer_footer, stats_from_record
from edgetui.core.store.store import StoredMessage, StoreError
from edgetui.ui.chat.message_view import MessageView

if TYPE_CHECKING:
    from edgetui.ui.chat.chat_pane import ChatPane

    _Base = ChatPane
else:
    _Base = object


class EarlierMarker(Static):
    """The first line of the list while earlier messages are not shown; a click shows some."""

    def on_click(self) -> None:
        pane = next((node for node in self.ancestors if isinstance(node, ChatHistory)), None)
        if pane is not None:
            pane.run_worker(pane.show_earlier(), group="earlier")  # not exclusive: a cancel mid-mount loses messages


class ChatHistory(_Base):
    """A mixin of ChatPane. Every message is a few Textual widgets (~250 KB each), so a long session keeps only its
    last `WINDOW` messages mounted (`SLACK` more before it trims): memory stays flat over hundreds of turns, and a
    long session opens at once. Scrolling to the top of the list, a click on the marker there, or Up on the first
    message shows `STEP` earlier messages, in place. Every message stays in the database and in `conv.thread`."""

    WINDOW = 60
    SLACK = 20
    STEP = 20
    hidden = 0  # how many of the thread's messages, from its start, are not mounted

    @cached_property
    def _earlier_lock(self) -> asyncio.Lock:
        return asyncio.Lock()

    def _thread_messages(self) -> list[StoredMessage]:
        return [m for m in self.conv.thread if m.role in ("user", "assistant")]

    async def render_thread(self, *, keep: bool = False) -> None:
        """Show the conversation's active branch (after opening a session, switching branch, ...): its last
        `WINDOW` messages; with `keep`, at least as many as before (a message the user went back to stays)."""
        msgs = self._thread_messages()
        start = max(0, len(msgs) - self.WINDOW)
        if keep:
            start = min(start, self.hidden)
        self.hidden = start
        await self.message_list.remove_children()
        views = [self._view_for(m) for m in msgs[start:]]
        if start:
            views.insert(0, self._marker())  # type: ignore[arg-type]
        if views:
            await self.message_list.mount_all(views)
        for view, msg in zip(views[1 if start else 0 :], msgs[start:], strict=True):
            self._decorate(view, msg)
        self.mark_unseen()
        self.message_list.scroll_end(animate=False)
        self.refresh_status()

    def _marker(self) -> EarlierMarker:
        return EarlierMarker(self._marker_text(), id="earlier")

    def _marker_text(self) -> str:
        count = self.hidden
        return f"▲ {count} earlier message{'s' if count != 1 else ''} · scroll up to show them"

    def _view_for(self, msg: StoredMessage) -> MessageView:
        return MessageView(msg.role, msg.content, message_id=msg.id, status=msg.status)

    def _decorate(self, view: MessageView, msg: StoredMessage) -> None:
        store = self.conv.store
        try:
            view.set_branch(*self.conv.branches(msg.id))
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

    async def show_earlier(self, count: int | None = None) -> int:
        """Mount up to `count` (`STEP`) messages before the first one shown, above it, with the same lines still in
        view; returns how many. One at a time: a second call waits for the first, then shows the next ones."""
        async with self._earlier_lock:
            return await self._show_earlier(count)

    async def _show_earlier(self, count: int | None) -> int:
        if not self.hidden:
            return 0
        msgs = self._thread_messages()
        start = max(0, self.hidden - (count or self.STEP))
        views = [self._view_for(m) for m in msgs[start : self.hidden]]
        self.hidden = start
        lst = self.message_list
        marker = lst.query_children(EarlierMarker).first()
        first = lst.children[lst.children.index(marker) + 1] if len(lst.children) > 1 else marker
        y = first.virtual_region.y
        await lst.mount_all(views, after=marker)
        for view, msg in zip(views, msgs[start:], strict=False):
            self._decorate(view, msg)
        self.mark_unseen()
        if start:
            marker.update(self._marker_text())
        else:
            await marker.remove()
        if first is not marker:
            lst.keep_in_view(first, y)
        return len(views)

    async def trim_history(self) -> None:
        """Unmount the oldest messages past `WINDOW` (with `SLACK`), while the user follows the end of the list (the
        lines in view do not move)."""
        lst = self.message_list
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

    async def on_message_list_reached_top(self) -> None:
        await self.show_earlier()
