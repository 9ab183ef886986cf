"""The block of a streaming answer still being written: wrapped text repainted line by line, without a layout."""

from __future__ import annotations

import re

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.content import Content
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from edgetui.ui import _textual
from edgetui.ui._textual import OneLayout, WheelToHost, render_plain, repaint

RESERVE_LINES = 8  # the height grows in steps of this many lines (past its reserve), so most tokens repaint without a
# screen layout


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


class LiveTail(OneLayout, WheelToHost, Widget):
    """Plain wrapped text that only grows at its end: a new token re-wraps the last line or two and repaints the lines
    that changed, and the height (hence a screen layout) changes only every `RESERVE_LINES` lines.

    Once the tail is taller than what can be seen of it, it can hold its height (`hold_window`): it then shows its
    last `window` lines, and a new line moves them up, a repaint of its own rows instead of a screen layout. The
    lines above the window are not on the screen; `release_window` gives the tail its full height again (when the
    user scrolls back, for one). The mouse wheel over it scrolls the message list (`WheelToHost`), also in the frame
    after it was removed."""

    DEFAULT_CSS = """
    LiveTail {
        height: auto;
    }
    """

    def __init__(self, *, classes: str | None = None, reserve: int = 0) -> None:
        """The first `reserve` lines of height are there before any text: the screen layout that places them happens
        with the one that mounts the answer (while the prompt is read), not among the tokens."""
        super().__init__(classes=classes)
        self.reserve = reserve
        self.text = ""
        self._width = 0
        self._lines: list[str] = []  # wrapped lines of every logical line but the last
        self._last: list[str] = []  # wrapped lines of the last logical line (the one tokens go into)
        self._last_plain = ""  # the last logical line, tabs expanded
        self._last_starts: list[int] = []  # where each of its wrapped lines starts in `_last_plain`
        self._done_upto = 0  # index in `text` where the last logical line starts
        self._height = 0
        self.window = 0  # held height: the last `window` lines are shown (0: as tall as the text, in steps)
        self._top = 0  # the first line shown (lines above the window), when last painted
        self._strips: dict[int, Strip] = {}  # finished lines in the window as painted (it moves them up a row)
        self._strips_for: tuple[int, Style] | None = None  # the width and style they were painted with

    # -- text ---------------------------------------------------------------------------------------------
    def set_text(self, text: str) -> None:
        """Show `text`; when it extends what is shown, only the changed lines are repainted."""
        shown = self.line_count
        if not text.startswith(self.text) or not self._width:
            self.text = text
            self._rewrap()
            self._refresh_lines(0, shown)
            return
        old_last, first_changed = self._last, len(self._lines)
        self.text = text
        *finished, last = text[self._done_upto :].split("\n")
        if finished:
            for line in finished:  # the first is the line that was being written, now finished
                self._lines.extend(self._wrap(line))
            self._done_upto = len(text) - len(last)
            self._set_last(last, grew=False)
        else:
            self._set_last(last, grew=True)
            same = 0  # lines of the last logical line that did not change need no repaint
            for before, after in zip(old_last, self._last, strict=False):
                if before != after:
                    break
                same += 1
            first_changed += same
        self._refresh_lines(first_changed, shown)

    @property
    def line_count(self) -> int:
        return len(self._lines) + len(self._last) if self.text else 0

    @property
    def hidden(self) -> int:
        """Lines above the held window (not on the screen)."""
        return max(0, self.line_count - self.window) if self.window else 0

    @property
    def size_wanted(self) -> int:
        """The height it asked for (its size once the next layout is done)."""
        return self._height

    def hold_window(self) -> None:
        """Keep the current height: from now on new lines move the shown ones up. Only while Textual's internals are
        used: the message list then gives the tail its full height back when its own size changes (`GrowsQuietly`);
        on the public path the tail grows with its text."""
        if not self.window and self._height and _textual.fast():
            self.window = self._height
            self._top = self.hidden

    def release_window(self) -> int:
        """Back to the full height (a screen layout); returns how many lines were above the window."""
        hidden = self.hidden
        if self.window:
            self.window = self._top = 0
            self._apply_height()
        return hidden

    def _wrap(self, line: str) -> list[str]:
        plain = _expand_tabs(line)
        return _cut(plain, _starts(plain, self._width, [], 0), self._width)

    def _set_last(self, line: str, *, grew: bool) -> None:
        """Wrap the line being written; when it only `grew`, from its last two wrapped lines on (greedy wrapping
        leaves the lines before them as they were)."""
        plain = _expand_tabs(line)
        grew = grew and plain.startswith(self._last_plain)
        old = self._last_starts
        starts = _starts(plain, self._width, old, max(0, len(old) - 2) if grew else 0)
        same = 0  # wrapped lines as they were: both ends where they were, and not the last line then
        if grew:
            while same + 1 < min(len(starts), len(old)) and starts[same : same + 2] == old[same : same + 2]:
                same += 1
        self._last = self._last[:same] + _cut(plain, starts, self._width, first=same)
        self._last_starts, self._last_plain = starts, plain

    def _rewrap(self) -> None:
        self._strips.clear()
        if not self._width:  # not laid out yet: wrapping waits for the width (get_content_height)
            self._lines, self._last, self._last_plain, self._last_starts, self._done_upto = [], [], "", [], 0
            return
        *finished, last = self.text.split("\n")
        self._lines = [wrapped for line in finished for wrapped in self._wrap(line)]
        self._done_upto = len(self.text) - len(last)
        self._set_last(last, grew=False)

    def set_reserve(self, lines: int) -> None:
        """Room for the first `lines` lines (a screen layout now, none while the text fills them)."""
        if lines != self.reserve and not self.window:
            self.reserve = lines
            self._apply_height()

    def _wanted_height(self) -> int:
        if self.window:
            return self.window
        count, reserve = self.line_count, self.reserve
        if count <= reserve:
            return reserve
        return reserve + -(-(count - reserve) // RESERVE_LINES) * RESERVE_LINES

    def _apply_height(self) -> bool:
        """Take the height the text (or the held window) needs; True, and a screen layout, when it changed."""
        height = self._wanted_height()
        if height == self._height:
            return False
        self._height = height
        self.refresh(layout=True)
        return True

    def _refresh_lines(self, first: int, shown: int) -> None:
        """Repaint from line `first` down to the last line with text, now or before (`shown` lines)."""
        if self._apply_height():
            return
        height = self._height
        top = self.hidden
        if top != self._top:  # the window moved down the text: every row shows another line
            for gone in range(self._top, top):  # (painted again only if the window is released)
                self._strips.pop(gone, None)
            self._top = top
            first, end = 0, height
        else:
            first, end = max(0, first - top), min(height, max(shown, self.line_count) - top)
        if first < end and self._width:
            repaint(self, Region(0, first, self._width, end - first))  # those lines alone, not what is around them

    # -- Textual hooks --------------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.wheel_host = self.parent if isinstance(self.parent, Widget) else None  # the message (it outlives the tail)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if width != self._width:
            self._new_width(width)
        self._height = self._wanted_height()
        return self._height

    def on_resize(self) -> None:
        width = self.content_region.width
        if width and width != self._width:
            self._new_width(width)
            self._refresh_lines(0, self._height)

    def _new_width(self, width: int) -> None:
        self._width = width
        self.window = self._top = 0  # other lines: the window no longer fits what was around it
        self._rewrap()

    def render_lines(self, crop: Region) -> list[Strip]:
        """The lines in `crop`, made as Textual's styles cache makes them but faster (`_textual.render_plain`), or by
        Textual (a border, padding, tint..., or the public path)."""
        strips = render_plain(self, crop, self._rows)
        return super().render_lines(crop) if strips is None else strips

    def _rows(self, ys: range, width: int, style: Style) -> list[Strip]:
        hidden = self.hidden  # (once: each costs)
        return [self._strip(hidden + y, width, style) for y in ys]

    def render_line(self, y: int) -> Strip:
        return self._strip(self.hidden + y, self.size.width, self.visual_style.rich_style)

    def _strip(self, y: int, width: int, style: Style) -> Strip:
        """Text line `y` (counted from the top of the text, hidden lines too) as painted."""
        lines = self._lines
        if y < len(lines):  # a finished line: the same strip wherever the window shows it
            if self._strips_for != (width, style):
                self._strips.clear()
                self._strips_for = (width, style)
            strip = self._strips.get(y)
            if strip is None:
                strip = self._strips[y] = Strip([Segment(lines[y], style)]).adjust_cell_length(width, style)
            return strip
        if self.text and y - len(lines) < len(self._last):
            return Strip([Segment(self._last[y - len(lines)], style)]).adjust_cell_length(width, style)
        return Strip.blank(width, style)


def _expand_tabs(line: str) -> str:
    return Content(line).expand_tabs(8).plain if "\t" in line else line


_WORD = re.compile(r"\s*\S+\s*")


def divide_line(text: str, width: int) -> list[int]:
    """Where `text` breaks to fit `width` cells: greedy word wrap, a word wider than the line folded over lines. The
    offsets Textual's `Content.wrap` breaks at (it uses Rich's `divide_line`, private; this is its algorithm, with
    `fold=True`: the canary test compares the two)."""
    breaks: list[int] = []
    offset = 0  # cells used on the current line
    for match in _WORD.finditer(text):  # a word and the spaces after it
        start, word = match.start(), match.group(0)
        length = cell_len(word.rstrip())
        if width - offset >= length:
            offset += cell_len(word)
        elif length > width:  # wider than any line: folded
            pieces = chop_cells(word, width)
            for piece in pieces[:-1]:
                if start:
                    breaks.append(start)
                start += len(piece)
            if start:
                breaks.append(start)
            offset = cell_len(pieces[-1])
        elif offset and start:  # on the next line
            breaks.append(start)
            offset = cell_len(word)
    return breaks


def _starts(plain: str, width: int, known: list[int], keep: int) -> list[int]:
    """Where each wrapped line of `plain` starts (word wrap, long words folded, as Textual's `Content.wrap`);
    `known[:keep + 1]` still hold, so wrapping resumes at `known[keep]` (or earlier, at a word's start)."""
    first_word = len(plain) - len(plain.lstrip())  # leading spaces belong to the first word
    while 0 < keep < len(known) and (
        known[keep] <= first_word or plain[known[keep]].isspace() or not plain[known[keep] - 1].isspace()
    ):
        keep -= 1  # that line does not start a word (part of a folded one): resume where a word starts
    base = known[keep] if keep < len(known) else 0
    keep = keep if base else 0
    return known[:keep] + [base] + [base + cut for cut in divide_line(plain[base:], max(1, width))]


def _cut(plain: str, starts: list[int], width: int, first: int = 0) -> list[str]:
    """The wrapped lines (from line `first` on): trailing spaces dropped where a line was broken, as `Content.wrap`
    does."""
    ends = starts[first + 1 :] + [len(plain)]
    lines = [plain[a:b].rstrip() for a, b in zip(starts[first:-1], ends, strict=False)] + [plain[starts[-1] :]]
    # only spaces, or a wide character on a 1-cell line, go past the width (words are folded)
    return [set_cell_size(line, width) if cell_len(line) > width else line for line in lines]
