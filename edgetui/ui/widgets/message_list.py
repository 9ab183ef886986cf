"""The chat's scrolling column of messages, which stays at its end while an answer streams (anchored)."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.geometry import Size


class MessageList(VerticalScroll):
    """A `VerticalScroll` that skips the second screen layout Textual makes when only its content grew.

    When a streaming answer grows, the layout that grew it has already placed every message and, when the list is
    anchored, scrolled it to the end; the second layout (~4 ms) would change nothing. Any other change (its own size,
    content that shrank or got wider) keeps Textual's behaviour. textual is pinned: `_size_updated` is private.
    """

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        old = self.virtual_size
        grew = (
            size == self._size
            and container_size == self._container_size
            and virtual_size.width == old.width
            and virtual_size.height >= old.height
        )
        return super()._size_updated(size, virtual_size, container_size, layout=layout and not grew)
