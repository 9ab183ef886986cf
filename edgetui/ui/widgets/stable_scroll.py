"""StableScroll: a ScrollView that skips the scrollbar refresh Textual gives it at every screen layout."""

from __future__ import annotations

from typing import Any

from textual.geometry import Size


class StableScroll:
    """Mix in before a ScrollView (DataTable, TextArea...). A full screen layout calls `_size_updated` on every
    widget, and Textual 8.2.8's `ScrollView._size_updated` compares the virtual size it is given with the one the
    widget keeps for itself (a DataTable's is its table's, so they differ by design): it then refreshes both
    scrollbars at every layout, even when nothing about the widget changed. While an answer streams, each layout
    repainted the catalog's two scrollbars (about 4 ms). This skips the call when everything it reads is what it
    was at the previous one. textual is pinned: `_size_updated` is private."""

    _stable_key: tuple[Any, ...] | None = None

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        styles = self.styles  # type: ignore[attr-defined]
        key = (
            size,
            virtual_size,
            container_size,
            self._size,  # type: ignore[attr-defined]
            self.virtual_size,  # type: ignore[attr-defined]
            styles.gutter,
            styles.overflow_x,
            styles.overflow_y,
            styles.scrollbar_size_horizontal,
            styles.scrollbar_size_vertical,
        )
        if key == self._stable_key:
            return False
        changed = super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]
        self._stable_key = (*key[:3], self._size, self.virtual_size, *key[5:])  # type: ignore[attr-defined]
        return changed
