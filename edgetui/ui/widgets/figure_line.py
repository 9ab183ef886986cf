"""A line of figures ('12 tok · 85.3 tok/s · TTFT 310 ms · ...') that wraps between figures, never inside one."""

from __future__ import annotations

from rich.cells import cell_len
from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

SEPARATOR = " · "


def pack(text: str, width: int) -> list[str]:
    """`text`'s figures (split at SEPARATOR) on as few lines of `width` cells as fit them whole; a line that goes on
    ends with '·'; a figure wider than the whole line is word-wrapped."""
    if width <= 0:
        return [text]
    figures = text.split(SEPARATOR)
    lines: list[str] = []
    line = figures[0]
    for figure in figures[1:]:
        joined = f"{line}{SEPARATOR}{figure}"
        if cell_len(joined) <= width:
            line = joined
        else:
            lines.append(f"{line} ·")
            line = figure
    lines.append(line)
    out: list[str] = []
    for line in lines:
        out.extend([line] if cell_len(line) <= width else [piece.plain for piece in Content(line).wrap(width)])
    return out


class FigureLine(Widget):
    """Plain text (never markup) shown as `pack` lays it out at the widget's width."""

    DEFAULT_CSS = """
    FigureLine {
        height: auto;
        text-wrap: nowrap;
    }
    """

    def __init__(self, text: str = "", *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._text = text
        self._packed: tuple[int, list[str]] = (-1, [])

    @property
    def text(self) -> str:
        return self._text

    def update(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self._packed = (-1, [])
            self.refresh(layout=True)

    def _lines(self, width: int) -> list[str]:
        if self._packed[0] != width:
            self._packed = (width, pack(self._text, width) if self._text else [])
        return self._packed[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> Content:
        return Content("\n".join(self._lines(self.content_region.width)))
