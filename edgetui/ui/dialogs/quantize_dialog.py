"""A modal to make another quantization of a model: pick the type and output path, watch it, Escape cancels."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from edgetui.core.tools.quantize import (
    OFFERED,
    QuantizeCancelled,
    default_output,
    predict_size,
    quantize_with_progress,
    requantize_check,
)
from edgetui.core.types import EngineError
from edgetui.core.units import format_bytes
from edgetui.core.visible_text import visible
from edgetui.ui.dialogs.quantize_messages import QuantizeFinished, QuantizeProgressed
from edgetui.ui.widgets.plain_text import PlainInput

MAX_TYPES_HEIGHT = 12  # rows of the list of types, its border included, where the screen has room


class _Note(Static):
    """The requantization note: when its wrapped height changes, the list of types makes room for it."""

    def on_resize(self) -> None:
        if isinstance(self.screen, QuantizeDialog):
            self.screen.call_after_refresh(self.screen._fit_types)


class QuantizeDialog(ModalScreen[Path | None]):
    """Dismisses with the new file's path, or None; quantize_with_progress runs in a thread worker."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, src: Path, name: str, quant: str, models_dir: Path, n_threads: int = 0) -> None:
        super().__init__()
        self.src, self.model_name, self.quant = Path(src), name, quant
        self.models_dir, self.n_threads = Path(models_dir), n_threads
        self.running = False
        self.cancel_event: threading.Event | None = None
        self._default_out = ""  # the output path we filled in; a path the user typed is kept

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog quantize-dialog"):
            title = f"Quantize {self.model_name} ({self.quant or '?'}, {format_bytes(_size(self.src))})"
            yield Label(visible(title), classes="dialog-title", markup=False)  # (the file's name)
            yield Label("Type (about the size it will have):")
            options = [Option(f"{q:<7} ~{format_bytes(predict_size(self.src, q))}", id=q) for q in OFFERED]
            yield OptionList(*options, id="quantize-types")
            yield _Note("", id="quantize-note", markup=False)  # what a requantization can give
            yield Label("Output file:")
            yield PlainInput(id="quantize-output")  # (a path made from the file's name)
            yield ProgressBar(id="quantize-progress", show_eta=True)
            yield Static("", id="quantize-status", markup=False)
            yield Label("↑↓ type · Tab output path · Enter starts · Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False
        types = self.query_one(OptionList)
        types.highlighted = 0
        self._fill_output(OFFERED[0])
        self._show_note(OFFERED[0])
        types.focus()

    @property
    def qtype(self) -> str:
        types = self.query_one(OptionList)
        option = types.highlighted_option
        return option.id if option is not None and option.id else OFFERED[0]

    def _fill_output(self, qtype: str) -> None:
        box = self.query_one("#quantize-output", Input)
        if box.value and box.value != self._default_out:
            return  # the user typed a path
        self._default_out = str(default_output(self.src, qtype, self.models_dir))
        box.value = self._default_out

    def _show_note(self, qtype: str) -> None:
        """Under the types, before Enter starts: an already quantized source cannot gain quality back."""
        check = requantize_check(self.model_name, self.quant, qtype)
        note = self.query_one("#quantize-note", Static)
        note.update(visible(check.note))
        note.display = bool(check.note)
        note.set_class(check.bigger, "-warn")
        self.call_after_refresh(self._fit_types)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_types)

    def _fit_types(self) -> None:
        """Make the list of types shorter when the whole dialog would not fit (80x24 with a note): the output
        path and the keys stay in view."""
        dialog = self.query_one(".quantize-dialog", Vertical)
        types = self.query_one(OptionList)
        rest = dialog.styles.gutter.height + sum(
            w.outer_size.height + w.styles.margin.top + w.styles.margin.bottom
            for w in dialog.children
            if w.display and w is not types
        )
        room = self.size.height * 9 // 10  # .dialog's max-height
        types.styles.max_height = max(3, min(MAX_TYPES_HEIGHT, room - rest))

    def set_status(self, text: str, warn: bool = False) -> None:
        status = self.query_one("#quantize-status", Static)
        status.update(visible(text))  # (errors name the files)
        status.set_class(warn, "-warn")

    @on(OptionList.OptionHighlighted)
    def _type_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id:
            self._fill_output(event.option.id)
            self._show_note(event.option.id)

    @on(OptionList.OptionSelected)
    def _type_selected(self, event: OptionList.OptionSelected) -> None:
        self.start()

    @on(Input.Submitted, "#quantize-output")
    def _output_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.start()

    def start(self) -> None:
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        if self.running:
            return
        text = self.query_one("#quantize-output", Input).value.strip()
        if not text:
            self.set_status("Give the output file a path.", warn=True)
            return
        dst, qtype = Path(text).expanduser(), self.qtype
        if dst.exists():
            body = f"{dst} already exists. Replace it with the new {qtype} file?"

            def answered(ok: bool | None) -> None:
                if ok:
                    self._begin(dst, qtype)

            self.app.push_screen(ConfirmDialog("Replace file", body, yes="Replace"), answered)
            return
        self._begin(dst, qtype)

    def _begin(self, dst: Path, qtype: str) -> None:
        self.running = True
        self.cancel_event = threading.Event()
        self.query_one(OptionList).disabled = True
        self.query_one("#quantize-output", Input).disabled = True
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.call_after_refresh(self._fit_types)
        self.set_status(f"Quantizing to {qtype}… Esc cancels")
        self._quantize(dst, qtype, self.cancel_event)

    @work(thread=True, exclusive=True, group="quantize")
    def _quantize(self, dst: Path, qtype: str, cancel: threading.Event) -> None:
        try:
            path = quantize_with_progress(
                self.src,
                dst,
                qtype,
                progress=lambda done, total: self.post_message(QuantizeProgressed(done, total)),
                cancel=cancel,
                n_threads=self.n_threads,
                models_dir=self.models_dir,
            )
        except QuantizeCancelled as exc:
            self.post_message(QuantizeFinished(None, str(exc), cancelled=True))
        except EngineError as exc:
            self.post_message(QuantizeFinished(None, str(exc)))
        except Exception as exc:  # never a traceback in the UI
            self.post_message(QuantizeFinished(None, f"{exc.__class__.__name__}: {exc}"))
        else:
            self.post_message(QuantizeFinished(path))

    def on_quantize_progressed(self, message: QuantizeProgressed) -> None:
        if self.running and message.total:
            self.query_one(ProgressBar).update(total=message.total, progress=message.done)

    def on_quantize_finished(self, message: QuantizeFinished) -> None:
        self.running = False
        self.cancel_event = None
        if message.path is not None:
            self.dismiss(message.path)
            return
        self.query_one(ProgressBar).display = False
        self.call_after_refresh(self._fit_types)
        self.query_one(OptionList).disabled = False
        self.query_one("#quantize-output", Input).disabled = False
        self.query_one(OptionList).focus()
        if message.cancelled:
            self.set_status("Cancelled: the partial file was removed. Enter starts again, Esc closes.", warn=True)
        else:
            self.set_status(message.error, warn=True)

    def action_cancel(self) -> None:
        if self.running and self.cancel_event is not None:
            self.cancel_event.set()
            self.set_status("Cancelling…", warn=True)
            return
        self.dismiss(None)

    def on_unmount(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
