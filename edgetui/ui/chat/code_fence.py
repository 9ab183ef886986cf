"""A Markdown code block whose long lines wrap, each continuation marked with ↪, so that no line is cut off."""

from __future__ import annotations

from functools import lru_cache

from textual.app import ComposeResult
from textual.content import Content
from textual.geometry import Size
from textual.selection import Selection
from textual.widget import Widget
from textual.widgets.markdown import MarkdownFence

CONTINUED = "↪ "  # starts a wrapped line's continuation (as vim's `showbreak`)


def fold_code(line: Content, width: int) -> list[Content]:
    """`line` cut into pieces at most `width` cells wide; every piece after the first starts with `CONTINUED`
    (code wraps at the width, not at spaces: its indentation and spacing stay as written)."""
    if line.cell_length <= width or width <= len(CONTINUED) + 1:
        return [line]
    first = line.fold(width)[0]
    rest = line[len(first.plain) :]
    marker = Content.styled(CONTINUED, "dim")
    return [first, *(marker + piece for piece in rest.fold(width - len(CONTINUED)))]


class CodeLines(Widget):
    """The highlighted code, folded to the widget's width (Textual's fence scrolls sideways with no scrollbar)."""

    DEFAULT_CSS = """
    CodeLines {
        width: 1fr;
        height: auto;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(self, code: Content, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._code = code
        self._folded: tuple[int, list[Content]] = (-1, [])

    def update(self, code: Content) -> None:
        self._code = code
        self._folded = (-1, [])
        self.refresh(layout=True)

    def lines(self, width: int) -> list[Content]:
        if self._folded[0] != width:
            self._folded = (width, [piece for line in self._code.split("\n") for piece in fold_code(line, width)])
        return self._folded[1]

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.lines(width))

    def render(self) -> Content:
        return Content("\n").join(self.lines(self.content_region.width))

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        """The selected code as written: the continuation marks go, and the pieces of a line join up again."""
        shown = "\n".join(line.plain for line in self.lines(self.content_region.width))
        return selection.extract(shown).replace("\n" + CONTINUED, ""), "\n"


@lru_cache(maxsize=16)
def _highlighted(code: str, language: str, ansi: bool, dark: bool) -> Content:
    return MarkdownFence.highlight(code, language, ansi=ansi, dark=dark)


class WrappedFence(MarkdownFence):
    """Textual's fence with `CodeLines` in place of its one-line-per-code-line Label."""

    DEFAULT_CSS = """
    WrappedFence {
        overflow: hidden hidden;
        & > CodeLines {
            padding: 1 2;
        }
    }
    WrappedFence:ansi > CodeLines {
        padding: 1 0;
    }
    """

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False, dark: bool = False) -> Content:
        """Textual's highlighting, kept for the last few blocks: the fence highlights its code when it is made, and
        `compose` asks for the same again (what the fence keeps of it has no public name)."""
        return _highlighted(code, language, ansi, dark)

    def compose(self) -> ComposeResult:
        app = self.app
        code = self.highlight(self.code, self.lexer, ansi=app.native_ansi_color, dark=app.current_theme.dark)
        yield CodeLines(code, id="code-content")

    def set_content(self, content: Content) -> None:
        for lines in self.query("#code-content").results(CodeLines):
            lines.update(content)
