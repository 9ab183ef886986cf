"""The benchmark screen: llama-bench's pp512/tg128 for the loaded model, run in a worker and kept in the database."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Label, ProgressBar, Static

from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import EngineError, ModelInfo
from edgetui.core.visible_text import visible
from edgetui.ui.widgets.key_footer import KeyFooter
from edgetui.ui.widgets.plain_text import cell

COLUMNS = ("model", "test", "t/s", "size", "params", "backend", "threads", "ngl", "when")  # the result first


def describe(row: dict[str, Any]) -> str:
    """One result in full, for the line under the table (an 80-column screen shows its first columns)."""
    from edgetui.core.tools.bench import format_params
    from edgetui.core.units import format_bytes

    tps = f"{row.get('tps_mean') or 0:.2f} ± {row.get('tps_std') or 0:.2f} t/s"
    return (
        f"{row.get('model', '')} · {row.get('test', '')} {tps} · {format_bytes(int(row.get('size') or 0))}, "
        f"{format_params(int(row.get('params') or 0))} params · {row.get('backend', '')}, "
        f"{row.get('threads', '')} threads, ngl {row.get('n_gpu_layers', '')} · "
        f"{str(row.get('created', ''))[:16].replace('T', ' ')}"
    )


class BenchProgressed(Message):
    def __init__(self, message: str, done: int, total: int) -> None:
        super().__init__()
        self.message, self.done, self.total = message, done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BenchProgressed)


class BenchFinished(Message):
    def __init__(self, results: list[Any], error: str = "") -> None:
        super().__init__()
        self.results, self.error = results, error


class BenchScreen(Screen[None]):
    """Past results of this database, newest first; Enter (or b) benchmarks the loaded model.

    `loaded` tells which model is loaded now (None: none), `busy` whether the chat is answering (the benchmark then
    waits: both would share the machine); results go to and come from `store`; `threads` when the model says none."""

    BINDINGS = [
        Binding("escape", "close", "Back / stop"),
        Binding("enter,b", "run", "Run pp512/tg128"),
        Binding("f", "run(1)", "Quick run (pp128/tg32)"),
    ]

    def __init__(
        self,
        store: Store,
        loaded: Callable[[], ModelInfo | None],
        *,
        threads: int,
        busy: Callable[[], bool] = lambda: False,
        reps: int = 5,
    ) -> None:
        super().__init__()
        self.store = store
        self.loaded = loaded
        self.threads = threads
        self.busy = busy
        self.reps = reps
        self._cancel: threading.Event | None = None
        self.rows: dict[str, dict[str, Any]] = {}  # row key -> the stored result

    def compose(self) -> ComposeResult:
        with Vertical(id="bench"):
            yield Label("Benchmarks (llama-bench's method: random tokens, warm-up, mean ± std)", classes="pane-title")
            yield DataTable(id="bench-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="bench-detail", markup=False)
            yield ProgressBar(id="bench-progress", show_eta=False)
            yield Static("", id="bench-status", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col)
        self.query_one(ProgressBar).display = False
        self.reload()
        info = self.loaded()
        self.set_status(
            f"Enter runs pp512 and tg128 on {info.path.name} ({self.reps} repetitions)."
            if info is not None and info.engine == "llama.cpp"
            else "Load a local model first (the benchmark measures llama.cpp in this process)."
        )

    def set_status(self, text: str, warn: bool = False) -> None:
        status = self.query_one("#bench-status", Static)
        status.update(visible(text))  # (a file name, an error)
        status.set_class(warn, "-warn")

    def reload(self) -> None:
        from edgetui.core.tools.bench import format_params
        from edgetui.core.units import format_bytes

        table = self.query_one(DataTable)
        table.clear()
        try:
            rows = self.store.benchmarks()
        except StoreError as exc:
            self.set_status(str(exc), warn=True)
            return
        self.rows = {}
        for r in sorted(rows, key=lambda r: r.get("id", 0), reverse=True):
            key = str(r.get("id", len(self.rows)))
            self.rows[key] = r
            cells = (
                r.get("model", ""),  # (the database's: a file name)
                r.get("test", ""),
                f"{r.get('tps_mean') or 0:.2f} ± {r.get('tps_std') or 0:.2f}",
                format_bytes(int(r.get("size") or 0)),
                format_params(int(r.get("params") or 0)),
                r.get("backend", ""),
                r.get("threads", ""),
                r.get("n_gpu_layers", ""),
                str(r.get("created", ""))[:16].replace("T", " "),
            )
            table.add_row(*(cell(c) for c in cells), key=key)
        self.show_highlighted()

    def show_highlighted(self) -> None:
        """The line under the table: the highlighted result with every field."""
        table = self.query_one(DataTable)
        row = None
        if table.row_count:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
            row = self.rows.get(str(key))
        detail = self.query_one("#bench-detail", Static)
        detail.update(visible(describe(row)) if row is not None else "")
        detail.display = row is not None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_highlighted()

    def action_run(self, quick: int = 0) -> None:
        info = self.loaded()
        if self._cancel is not None:
            return
        if info is None or info.engine != "llama.cpp" or not Path(info.path).is_file():
            self.set_status("Load a local GGUF model first: the benchmark runs llama.cpp in this process.", warn=True)
            return
        if self.busy():
            self.set_status("Wait for the chat answer to finish (or stop it) first.", warn=True)
            return
        tests = ("pp128", "tg32") if quick else ("pp512", "tg128")
        reps = 2 if quick else self.reps
        self._cancel = threading.Event()
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self.set_status(f"Running {' and '.join(tests)} × {reps} … (Esc stops)")
        self.bench(Path(info.path), info.n_threads or self.threads, info.n_gpu_layers, tests, reps)

    @work(thread=True, exclusive=True, group="bench")
    def bench(self, path: Path, threads: int, ngl: int, tests: tuple[str, ...], reps: int) -> None:
        from edgetui.core.tools.bench import run_bench

        cancel = self._cancel or threading.Event()
        try:
            results = run_bench(
                path,
                n_threads=threads,
                n_gpu_layers=ngl,
                tests=tests,
                reps=reps,
                cancel=cancel,
                progress=lambda msg, done, total: self.post_message(BenchProgressed(msg, done, total)),
            )
        except EngineError as exc:
            self.post_message(BenchFinished([], str(exc)))
            return
        except Exception as exc:  # never a traceback on screen
            self.post_message(BenchFinished([], f"{exc.__class__.__name__}: {exc}"))
            return
        error = ""
        for result in results:
            try:
                self.store.add_benchmark({**result.as_dict(), "reps": len(result.samples)})
            except StoreError as exc:
                error = f"Not saved: {exc}"
        self.post_message(BenchFinished(results, error))

    def on_bench_progressed(self, message: BenchProgressed) -> None:
        self.query_one(ProgressBar).update(total=message.total, progress=message.done)
        self.set_status(f"{message.message} ({message.done}/{message.total}) · Esc stops")

    def on_bench_finished(self, message: BenchFinished) -> None:
        self._cancel = None
        self.query_one(ProgressBar).display = False
        self.reload()
        if message.error:
            self.set_status(message.error, warn=True)
        elif message.results:
            self.set_status("  ·  ".join(f"{r.test}: {r.tps} t/s" for r in message.results))
        else:
            self.set_status("Stopped before any test finished.", warn=True)

    def action_close(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.set_status("Stopping after the current repetition …")
            return
        self.dismiss(None)
