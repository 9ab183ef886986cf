"""A one-line text input modal (rename a session, filter, a file path)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from edgetui.core.visible_text import visible
from edgetui.ui.widgets.plain_text import PlainInput


class InputDialog(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog input-dialog"):
            yield Label(visible(self.title_text), classes="dialog-title", markup=False)
            # (a session's title from the database: shown with marks, given back as it is when not edited)
            yield PlainInput(self.value, placeholder=self.placeholder, id="dialog-input")
            yield Label("Enter to confirm · Esc to cancel", classes="dialog-hint")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
