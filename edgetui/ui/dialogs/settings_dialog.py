"""Modal dialog for the session's system prompt and sampling settings (temperature, top_p, top_k, ...)."""

from __future__ import annotations

from dataclasses import dataclass, fields

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from edgetui.config import sampler_from
from edgetui.core.types import SamplerSettings
from edgetui.core.visible_text import visible
from edgetui.ui.widgets.plain_text import PlainTextArea

HELP = {
    "temperature": "0 = greedy",
    "top_p": "nucleus, 0-1",
    "top_k": "0 = off",
    "min_p": "0-1",
    "repeat_penalty": "1 = off",
    "seed": "-1 = random",
    "max_tokens": "answer length cap",
}


@dataclass(frozen=True)
class SettingsChosen:
    """What the dialog returns: the settings, and whether new sessions start with them too."""

    system_prompt: str
    sampler: SamplerSettings
    as_default: bool = False


class SettingsDialog(ModalScreen[SettingsChosen | None]):
    """Returns the chosen settings, or None when cancelled. Ctrl+S saves them for this session; Ctrl+D also makes
    them the defaults that new sessions (Ctrl+N) start with, in place of config.toml's."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+d", "save_default", "Save as default", priority=True),
    ]

    def __init__(self, system_prompt: str, sampler: SamplerSettings) -> None:
        super().__init__()
        self.system_prompt = system_prompt
        self.sampler = sampler

    def compose(self) -> ComposeResult:
        with Vertical(id="settings", classes="dialog"):
            yield Label("Session settings", classes="dialog-title")
            yield Label("System prompt")
            # (a session's system prompt, from the database: its control characters as marks)
            yield PlainTextArea(self.system_prompt, id="system-prompt", soft_wrap=True, compact=True)
            with Grid(id="sampler-grid"):  # two settings a row: the dialog fits an 80x24 terminal
                for f in fields(SamplerSettings):
                    label = Label(f.name, classes="setting-name")
                    label.tooltip = HELP.get(f.name, "")
                    yield label
                    box = Input(str(getattr(self.sampler, f.name)), id=f"s-{f.name}", compact=True)
                    box.tooltip = HELP.get(f.name, "")
                    yield box
            yield Label("", id="settings-error", classes="-warn", markup=False)  # (it quotes what was typed)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save (Ctrl+S)", variant="primary", id="save", compact=True)
                yield Button("Save as default (Ctrl+D)", id="save-default", compact=True)
                yield Button("Cancel (Esc)", id="cancel", compact=True)

    def parse(self) -> SamplerSettings:
        """The settings typed in, checked against the sampler's types and ranges (config.toml's rules)."""
        values: dict[str, int | float | str] = {}
        for f in fields(SamplerSettings):
            raw = self.query_one(f"#s-{f.name}", Input).value.strip()
            kind = type(getattr(self.sampler, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError:
                values[f.name] = raw  # (said by the check, with what is expected)
        return sampler_from(values, self.sampler)

    def _done(self, as_default: bool) -> None:
        try:
            sampler = self.parse()
        except ValueError as exc:
            self.query_one("#settings-error", Label).update(visible(str(exc)))
            return
        self.dismiss(SettingsChosen(self.query_one("#system-prompt", TextArea).text, sampler, as_default))

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        self._done(as_default=False)

    @on(Button.Pressed, "#save-default")
    def action_save_default(self) -> None:
        self._done(as_default=True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
