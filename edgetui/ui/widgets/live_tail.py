"""The block of a streaming answer still being written: wrapped text repainted line by line, without a layout."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

RESERVE_LINES = 8  # the height grows in steps of this many lines, so most tokens repaint without a screen layout


def block_boundary(text: str) -> int:
    """Where the finished Markdown blocks of a streamed `text` end: just after its last blank line that is outside a
    code block (0 when there is none). What comes after may still change as tokens arrive."""
    end = 0
    pos = 0
    fence = ""
    for line in text.split("\n")[:-1]:  # the last piece has no newline yet: it is still being written
        pos += len(line) + 1
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) <= 3 and stripped[:3] in ("```", "~~~"):
            run = len(stripped) - len(stripped.lstrip(stripped[0]))
            if not fence:
                fence = stripped[:run]
            elif stripped.startswith(fence) and not stripped[run:].strip():
                fence = ""
                end = pos  # a closed code block is finished
            continue
        if not fence and not line.strip() and pos > 1:
            end = pos
    return end


class OneLayout:
    """For widgets that do not scroll: skip the second screen layout Textual makes when their virtual size changes
    (the layout that resized them already placed everything). textual is pinned: `_size_updated` is private."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        return super()._size_updated(size, virtual_size, container_size, layout=False)  # type: ignore[misc]


class LiveTail(OneLayout, Widget):
    """Plain wrapped text that only grows at its end: a new token repaints the lines it changed, and the height
    (hence a screen layout) changes only every `RESERVE_LINES` lines."""

    DEFAULT_CSS = """
    LiveTail {
        height: auto;
    }
    """

    def __init__(self, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.text = ""
        self._width = 0
        self._lines: list[str] = []  # wrapped lines of every logical line but the last
        self._last: list[str] = []  # wrapped lines of the last logical line (the one tokens go into)
        self._done_upto = 0  # index in `text` where the last logical line starts
        self._height = 0
        self._style = Style()

    # -- text ---------------------------------------------------------------------------------------------
    def set_text(self, text: str) -> None:
        """Show `text`; when it extends what is shown, only the changed lines are repainted."""
        shown = self.line_count
        if not text.startswith(self.text) or not self._width:
            self.text = text
            self._rewrap()
            self._refresh_after(0, shown)
            return
        first_changed = len(self._lines)  # re-wrapping the line being written may change any of its lines
        self.text = text
        *finished, last = text[self._done_upto :].split("\n")
        for line in finished:
            self._lines.extend(self._wrap(line))
        if finished:
            self._done_upto = len(text) - len(last)
        self._last = self._wrap(last)
        self._refresh_after(first_changed, shown)

    @property
    def line_count(self) -> int:
        return len(self._lines) + len(self._last) if self.text else 0

    def _wrap(self, line: str) -> list[str]:
        if not line:
            return [""]
        return [part.plain for part in Content(line).wrap(max(1, self._width))] or [""]

    def _rewrap(self) -> None:
        if not self._width:  # not laid out yet: wrapping waits for the width (get_content_height)
            self._lines, self._last, self._done_upto = [], [], 0
            return
        *finished, last = self.text.split("\n")
        self._lines = [wrapped for line in finished for wrapped in self._wrap(line)]
        self._done_upto = len(self.text) - len(last)
        self._last = self._wrap(last)

    def _wanted_height(self) -> int:
        count = self.line_count
        if not count:
            return 0
        return -(-count // RESERVE_LINES) * RESERVE_LINES

    def _refresh_after(self, first: int, shown: int) -> None:
        """Repaint from line `first` down to the last line with text, now or before (`shown` lines)."""
        height = self._wanted_height()
        if height != self._height:
            self._height = height
            self.refresh(layout=True)
            return
        end = min(height, max(shown, self.line_count))
        if first < end and self._width:
            self.refresh(Region(0, first, self._width, end - first))

    # -- Textual hooks --------------------------------------------------------------------------------------
    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width:
            self._width = width
            self._rewrap()
        self._height = self._wanted_height()
        return self._height

    def on_resize(self) -> None:
        width = self.content_region.width
        if width and width != self._width:
            self._width = width
            self._rewrap()
            self._refresh_after(0, self._height)

    def render_lines(self, crop: Region) -> list[Strip]:
        self._style = self.rich_style  # once per repaint: it walks the DOM
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        lines, style, width = self._lines, self._style, self.size.width
        if y < len(lines):
            text = lines[y]
        elif self.text and y - len(lines) < len(self._last):
            text = self._last[y - len(lines)]
        else:
            return Strip.blank(width, style)
        return Strip([Segment(text, style)]).adjust_cell_length(width, style)
