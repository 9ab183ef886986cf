"""The help screen: every key, and where edgetui keeps its files."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from edgetui.ui.widgets.plain_text import line

KEYS = """\
# edgetui keys

| Key | Action |
|---|---|
| **Enter** | send the prompt |
| **Ctrl+J** / **Alt+Enter** | new line in the prompt (Shift+Enter where the terminal reports it) |
| **Esc** | stop the answer (the partial text stays, marked *stopped*); close a dialog |
| **PageUp** / **PageDown** | scroll the conversation (from the prompt too) |
| **Home** / **End** | top / end of the conversation (with text in the prompt: its line's start / end) |
| **Ctrl+Home** / **Ctrl+End** | top / end of the conversation |
| **Ctrl+N** | new chat session (with the default settings: config.toml's, or those saved with *Save as default*) |
| **Ctrl+R** | regenerate the last answer (the earlier one stays as a sibling) |
| **Ctrl+E** | edit the last prompt (or the focused one) and resend: a new branch |
| **Ctrl+T** | system prompt and sampling settings for this session (or as the default for new ones) |
| **Ctrl+Y** | copy the last answer (OSC 52: works over SSH) |
| **Mouse** | select text to copy it (Ctrl+C copies the selection again) |
| **Ctrl+C** | stop the answer; with a selection, copy it |
| **Ctrl+S** | sessions: list, search, open, rename, delete, export |
| **Ctrl+K** | compare two models side by side |
| **Ctrl+B** | benchmark the loaded model (llama-bench's pp512 / tg128) |
| **Ctrl+P** | command palette: every action by name |
| **F1** | this help |
| **F2** / **F3** | show or hide the catalog / gauge pane |
| **Tab** / **Shift+Tab** | prompt → conversation → catalog (a letter typed in the conversation goes to the prompt) |
| **Ctrl+Q** | quit |

## On a message (Tab to the conversation, then ↑/↓ onto a message; Esc or typing goes back to the prompt)

| Key | Action |
|---|---|
| **c** | copy the message |
| **k** | copy its next code block (press again for the following one) |
| **e** | edit this prompt and resend (a new branch) |
| **r** | regenerate this answer |
| **←** / **→** | previous / next branch at this point |

## In the catalog

| Key | Action |
|---|---|
| **Enter** | load the model |
| **/** | filter by name |
| **s** | change the sort column |
| **d** | model details and memory fit |
| **q** | quantize: make another quantization of this model |
| **Delete** / **x** | delete the file (asks first) |
| **r** | rescan the disk (models dir, Hugging Face cache, Ollama, LM Studio) |
| **h** | search and download from the Hugging Face Hub |

Marks: **●** loaded, **≈** another quantization of the loaded model, **⇄** remote endpoint, **!** unreadable;
fit: **✓** fits, **~** tight, **✗** does not fit.

## In the compare screen (Ctrl+K)

| Key | Action |
|---|---|
| **Enter** | run the prompt through A and B |
| **a** / **b** | choose model A / B (Tab out of the prompt first) |
| **g** | greedy or the chat's sampler |
| **c** | one after the other, or both at once |
| **q** | measure quality: perplexity and KL divergence of B against A |
| **x** | export the comparison to Markdown and JSON |
| **n** | new comparison |
| **Esc** | stop; leave when idle |
"""


def code_span(text: str) -> str:
    """`text` (a path from the environment) as one Markdown code span that shows it literally: control characters
    and a line end as marks, fenced with more backticks than it holds in a row (so a backtick in it cannot end the
    span, a newline cannot start a heading or a list, and nothing in it is read as Markdown)."""
    shown = line(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", shown)), default=0) + 1)
    return f"{fence} {shown} {fence}" if shown.startswith("`") or shown.endswith("`") else f"{fence}{shown}{fence}"


def files_markdown(files: list[tuple[str, str]]) -> str:
    """The help's list of where the files are: (what, path) pairs, each path a literal code span."""
    return "\n".join(f"- {what}: {code_span(path)}" for what, path in files)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, where: str = "") -> None:
        super().__init__()
        self.where = where

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Markdown(KEYS + (f"\n## Files\n\n{self.where}\n" if self.where else ""))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
