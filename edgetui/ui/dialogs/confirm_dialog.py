"""A yes/no modal dialog used before anything destructive or risky (delete, load anyway, drop turns)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from edgetui.core.visible_text import visible

ALWAYS = "always"  # what the dialog returns for its third choice, when it has one


class ConfirmDialog(ModalScreen[bool | str]):
    """Dismisses with True (y / Enter on the first button) or False (n / Esc); with `always`, a third choice (a)
    dismisses with ALWAYS ("yes, and do not ask again")."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
        Binding("a", "always", "Always", show=False),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes", no: str = "Cancel", always: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.yes = yes
        self.no = no
        self.always = always

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Label(visible(self.title_text), classes="dialog-title", markup=False)
            # (file names, session titles, model text: never markup, control characters as marks)
            yield Static(visible(self.body), classes="dialog-body", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="warning", id="yes", compact=True)
                if self.always:
                    yield Button(f"{self.always} (a)", id="always", compact=True)
                yield Button(f"{self.no} (n)", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(ALWAYS if event.button.id == "always" else event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    def action_always(self) -> None:
        if self.always:
            self.dismiss(ALWAYS)
