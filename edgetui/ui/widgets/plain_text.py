"""Text from outside (a model, a server, a file's name or header, the database) in the widgets that Textual's
`Content` does not draw, so that `_textual.show_control_characters` does not cover them: Rich cells of a
DataTable or a Rich Table, an Input's value, a TextArea's lines. Never markup, control characters shown as marks."""

from __future__ import annotations

from typing import Any

from rich.control import strip_control_codes
from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Input, TextArea

from edgetui.core.visible_text import CONTROL_MARKS, visible

# One mark a character (the line end and the tab too, in a one-line Input), so that a cursor's offset into the value
# is still the character's: `visible` keeps tabs and line ends, and turns CR LF into one character.
_LINE_MARKS = {**CONTROL_MARKS, 0x0A: "␊"}  # a TextArea line: its tabs are expanded by the TextArea
_INPUT_MARKS = {**_LINE_MARKS, 0x09: "␉"}


def cell(value: object, **options: Any) -> Text:
    """A DataTable or Rich Table cell of untrusted text: a `Text` (a str cell is read as markup), marks for control
    characters; None is an empty cell. `options` are Text's (no_wrap, overflow, style...)."""
    return Text(visible("" if value is None else str(value)), **options)


def line(value: object) -> str:
    """Untrusted text for one line of a screen: control characters as marks, a line end too (␊)."""
    return visible(str(value)).replace("\n", "␊")


class ControlMarks(Highlighter):
    """What an Input draws of its value: every character of it, control characters as marks, one for one, so that
    the cursor's offset is still the character's (the Rich Text the Input makes of its value has already dropped
    five of them, BEL BS VT FF CR: they come back from the value, as marks); then the Input's own highlighter."""

    def __init__(self, owner: Input, then: Highlighter | None = None) -> None:
        self.owner, self.then = owner, then

    def highlight(self, text: Text) -> None:
        value = self.owner.value
        shown = value if strip_control_codes(value) == text.plain else text.plain  # (the value, as it always is)
        text.plain = shown.translate(_INPUT_MARKS)
        if self.then is not None:
            self.then.highlight(text)


class PlainInput(Input):
    """An Input whose value (a path made from a file name, a session's title) shows its control characters as
    marks, one for one: Input draws its value as a Rich Text, which lets ESC through. The value itself is kept. The
    marks come from its highlighter (`ControlMarks`, before the one given, if any): Input's public hook for what
    its value looks like."""

    def __init__(self, *args: Any, highlighter: Highlighter | None = None, **kwargs: Any) -> None:
        super().__init__(*args, highlighter=ControlMarks(self, highlighter), **kwargs)


class PlainTextArea(TextArea):
    """A TextArea whose lines (a system prompt from the database, a prompt edited again) show their control
    characters as marks, one for one (TextArea draws its lines as Rich Text, which lets ESC through); the document
    is kept as it is. `get_line` is TextArea's documented hook for what a line shows."""

    def get_line(self, line_index: int) -> Text:
        return Text(self.document.get_line(line_index).translate(_LINE_MARKS), end="", no_wrap=True)
