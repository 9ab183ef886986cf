"""The prompt box: Enter sends; Ctrl+J, Alt+Enter or (where the terminal tells it) Shift+Enter add a newline."""

from __future__ import annotations

from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import TextArea

from edgetui.ui._textual import BlinkPaintsNow
from edgetui.ui.widgets.plain_text import PlainTextArea

NEWLINE_KEYS = frozenset({"ctrl+j", "alt+enter", "shift+enter", "ctrl+enter"})
APP_KEYS = frozenset({"ctrl+e", "ctrl+y", "ctrl+k", "ctrl+r", "ctrl+t", "ctrl+s", "ctrl+n", "ctrl+b"})
# the conversation's keys: PageUp/PageDown always scroll it; Home/End move the cursor, or scroll when the box is empty
PANE_KEYS = frozenset({"pageup", "pagedown", "home", "end"})


def _without_app_keys(bindings: list[BindingType]) -> list[BindingType]:
    """TextArea's bindings minus the emacs-style keys the app uses and the keys that scroll the conversation (Ctrl+A,
    Ctrl+Z and Ctrl+U still edit)."""
    kept: list[BindingType] = []
    for b in bindings:
        if isinstance(b, Binding):
            keys = [k for k in b.key.split(",") if k.strip() not in APP_KEYS | PANE_KEYS]
            if keys:
                kept.append(Binding(",".join(keys), b.action, b.description, show=b.show, priority=b.priority))
        else:
            kept.append(b)
    return kept


class PromptInput(BlinkPaintsNow, PlainTextArea, inherit_bindings=False):  # (a paste's control characters as marks)
    """A multi-line prompt editor that submits on Enter; its cursor's blink paints its own line alone."""

    BINDINGS = [
        *_without_app_keys(list(TextArea.BINDINGS)),
        Binding("home", "line_end_or_pane(False)", show=False),
        Binding("end", "line_end_or_pane(True)", show=False),
    ]

    class Submitted(Message):
        def __init__(self, prompt_input: PromptInput, text: str) -> None:
            super().__init__()
            self.prompt_input = prompt_input
            self.text = text

        @property
        def control(self) -> PromptInput:
            return self.prompt_input

    def __init__(self, *, id: str | None = None, placeholder: str = "") -> None:
        super().__init__(
            id=id,
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="focus",
            compact=True,
            placeholder=placeholder,
        )

    def action_line_end_or_pane(self, end: bool) -> None:
        """Home/End: to the start or end of the line; in an empty box the conversation's keys (top, end)."""
        if not self.text:
            raise SkipAction()
        if end:
            self.action_cursor_line_end()
        else:
            self.action_cursor_line_start()

    def on_key(self, event: events.Key) -> None:
        """Enter sends, the newline keys add a line; any other key goes on to TextArea's own handler (which runs
        after this one, unless this one prevents it)."""
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            if not self.read_only:  # as TextArea's own typing
                start, end = self.selection
                self.replace("\n", start, end, maintain_selection_offset=False)
