"""The chat's scrolling column of messages, which stays at its end while an answer streams (anchored)."""

from __future__ import annotations

from typing import Any

from textual.actions import SkipAction
from textual.containers import VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget

from edgetui.ui._textual import GrowsQuietly
from edgetui.ui.chat.live_tail import LiveTail


class MessageList(GrowsQuietly, VerticalScroll):
    """A `VerticalScroll` that skips the second screen layout Textual makes when only its content grew
    (`GrowsQuietly`): when a streaming answer grows, the layout that grew it has already placed every message and,
    when the list is anchored, scrolled it to the end.
    """

    class ReachedTop(Message):
        """The user scrolled to the top of the list."""

    _keep_lines = 0  # lines a released window had above it: the view moves down by them once they are laid out
    _scrolled_away = False  # the user scrolled away from the end of the anchored list (Textual's flag is private)

    def size_changing(self) -> None:
        """A held window may no longer cover what is seen of the list."""
        for tail in self.query(LiveTail):
            tail.release_window()

    def virtual_size_changed(self, old: Size, new: Size) -> None:
        if self._keep_lines:  # the released lines are laid out: follow them, once
            lines, self._keep_lines = self._keep_lines, 0
            if new.height > old.height:  # (not when the answer ended first and the tail is gone)
                self.call_after_refresh(self._move_down, lines)  # after the user's own scroll, which waits a refresh

    def keep_in_view(self, widget: Widget, y: int) -> None:
        """Messages were mounted above `widget`, which was `y` lines from the top of the list: once they are laid
        out, move down by what they added, so that the same lines stay in view."""
        self.call_after_refresh(lambda: self._move_down(widget.virtual_region.y - y))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._scrolled_away and self.is_anchored and self.scroll_y >= self.max_scroll_y:
            self._scrolled_away = False  # back at the end: following again, as Textual's anchor is
        if new_value <= 0 < old_value:
            self.post_message(self.ReachedTop())

    def allow_focus_children(self) -> bool:
        """Tab stops at the conversation, not at each of its messages (↑/↓ move onto them)."""
        return False

    def action_scroll_up(self) -> None:
        self._select_message(last=True)

    def action_scroll_down(self) -> None:
        self._select_message(last=False)

    def _select_message(self, *, last: bool) -> None:
        """↑/↓ on the conversation: onto the lowest (↑) or highest (↓) message in sight, a deliberate move before a
        message's one-letter keys act. On a focused message they are the chat pane's keys (to the next message)."""
        focused = self.screen.focused
        if focused is not self:
            raise SkipAction()
        view = self.scrollable_content_region
        seen = [w for w in self.children if w.can_focus and w.region.overlaps(view)]
        if seen:
            self.screen.set_focus(seen[-1] if last else seen[0])

    def _move_down(self, lines: int) -> None:
        self.scroll_to(y=self.scroll_y + lines, animate=False, immediate=True, release_anchor=False)

    @property
    def following(self) -> bool:
        """Anchored and not scrolled away by the user: the end of the list is what is seen."""
        return self.is_anchored and not self._scrolled_away

    def scroll_end(self, *args: Any, **kwargs: Any) -> None:
        if self.is_anchored:
            self._scrolled_away = False  # (Textual's anchor follows again too)
        super().scroll_end(*args, **kwargs)

    def release_anchor(self) -> None:
        """The user scrolls: a streaming answer's tail that holds a window gets its full height back, and the list
        moves down by the lines that were above the window, so that the same lines stay in view."""
        super().release_anchor()
        self._scrolled_away = True
        for tail in self.query(LiveTail):
            self._keep_lines += tail.release_window()
