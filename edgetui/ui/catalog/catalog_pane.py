"""The catalog pane: every model on this machine and the configured endpoints, sortable and filterable."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

from edgetui.config import Config
from edgetui.core.engines.remote import guess_quant
from edgetui.core.models.catalog import CatalogEntry, filter_entries, format_bytes, format_params, sort_entries
from edgetui.core.models.fit import FITS, NO_FIT, TIGHT, Resources
from edgetui.core.models.ref import ModelRef
from edgetui.core.store.store import Store
from edgetui.core.visible_text import visible
from edgetui.paths import Paths
from edgetui.ui._textual import StableScroll
from edgetui.ui.catalog.catalog_messages import ScanFinished, ScanProgressed
from edgetui.ui.catalog.remote_row import RemoteRow

SORT_CYCLE = ("name", "size", "params", "quant", "fit", "source")
FIT_SYMBOL = {FITS: "✓", TIGHT: "~", NO_FIT: "✗"}
LOADED, SIBLING, BROKEN, REMOTE = "●", "≈", "!", "⇄"
NAME_WIDTH = 14
LEGEND = "● loaded ≈ sibling ! unreadable · ✓ fits ~ tight ✗ too big ⇄ remote"


Item = CatalogEntry | RemoteRow


class FilterInput(Input):
    """The filter box: typing filters at once; Enter keeps the filter, Escape clears it."""

    BINDINGS = [Binding("escape", "clear", "Clear filter", show=False)]

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(Input.Submitted(self, ""))


class CatalogTable(StableScroll, DataTable):
    """The model table: a DataTable that is not refreshed by screen layouts that leave it as it was. The pane is
    narrow: the row under the mouse has a tooltip with its cells whole (d shows every detail)."""

    def watch_hover_coordinate(self, old: Coordinate, value: Coordinate) -> None:
        super().watch_hover_coordinate(old, value)
        if old.row != value.row or self.tooltip is None:
            pane = next((a for a in self.ancestors if isinstance(a, CatalogPane)), None)
            self.tooltip = pane.row_tooltip(value.row) if pane is not None else None


class CatalogPane(Vertical):
    """A table of models; posts `ModelChosen` on Enter; s sorts, / filters, r rescans, d details, Delete,
    q quantizes, h opens the Hub.

    What it reads comes through its constructor: the settings (endpoints, context size, GPU layers, threads), the
    paths (where models are, where quantized ones go), the store (measured loads, for the details) and how much
    memory a model may take (`fit_resources`, asked on each scan: the machine's, or what the tests inject). What the
    app does for it (open the Hub, delete a model's files) it asks with a message."""

    BINDINGS = [
        Binding("enter", "choose", "Load model", show=False),
        Binding("s", "cycle_sort", "Sort"),
        Binding("slash", "filter", "Filter"),
        Binding("r", "rescan", "Rescan", show=False),
        Binding("d", "details", "Details"),
        Binding("delete,x", "delete", "Delete", show=False),
        Binding("q", "quantize", "Quantize"),
        Binding("h", "hub", "Hub"),
    ]

    class ModelChosen(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    class Sorted(Message):
        """The user sorted the table by another column."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class HubRequested(Message):
        """h: the user asked for the Hugging Face Hub screen."""

    class DeleteRequested(Message):
        """Delete: the user asked to delete the highlighted row's file(s) (the app asks first, or refuses)."""

        def __init__(self, item: Item) -> None:
            super().__init__()
            self.item = item

    def __init__(
        self,
        config: Config,
        paths: Paths,
        store: Store,
        fit_resources: Callable[[], Resources],
        *,
        id: str | None = None,
        sort_key: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.config = config
        self.paths = paths
        self.store = store
        self.fit_resources = fit_resources  # (called in the scan's thread)
        self.catalog: Any = None  # the core Catalog of the last scan
        self.entries: list[CatalogEntry] = []
        self.remotes: list[RemoteRow] = []
        self.items: dict[str, Item] = {}  # key -> what the row shows, in table order
        self.sort_key = sort_key if sort_key in SORT_CYCLE else "name"
        self.filter_text = ""
        self.loaded: Path | None = None
        self.fit_line = ""  # predicted vs measured of the loaded model
        self.scanning = False
        self.scan_error = ""
        self._scan_id = 0
        self._scan_cancel: threading.Event | None = None
        self._focus: Path | None = None  # highlighted once the next scan lists it
        self.opened: list[Path] = []  # models loaded from elsewhere (`--model PATH`): listed too

    @property
    def table(self) -> CatalogTable:
        return self.query_one("#catalog-table", CatalogTable)

    def compose(self) -> ComposeResult:
        yield Label("Models", id="catalog-title", classes="pane-title", markup=False)
        yield FilterInput(placeholder="filter (Esc clears)", id="catalog-filter")
        yield CatalogTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="catalog-status", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("", key="mark", width=2)
        table.add_column("Model", key="name", width=NAME_WIDTH)
        for key, label in (("quant", "Quant"), ("size", "Size"), ("params", "Params"), ("note", "Fit / note")):
            table.add_column(label, key=key)
        self.query_one(FilterInput).display = False
        self.remotes = [RemoteRow(ep) for ep in self.config.endpoints]
        self.render_rows()

    # -- scanning -------------------------------------------------------------------------------------
    def rescan(self, focus: Path | None = None) -> None:
        """Scan again in a thread worker (a scan under way is cancelled); `focus` is highlighted afterwards."""
        if self._scan_cancel is not None:
            self._scan_cancel.set()
        self._scan_id += 1
        self._scan_cancel = threading.Event()
        self._focus = focus if focus is not None else self._focus
        self.scanning = True
        self.set_status("Scanning for models…")
        self._scan(self._scan_id, self._scan_cancel)

    @work(thread=True, group="catalog-scan")
    def _scan(self, scan_id: int, cancel: threading.Event) -> None:
        from edgetui.core.models.catalog import Catalog

        config = self.config
        try:
            catalog = Catalog(self.paths, config, opened=self.opened)
            catalog.scan(
                cancel, lambda done, total, path: self.post_message(ScanProgressed(scan_id, done, total, path))
            )
            catalog.annotate_fit(config.n_ctx, self.fit_resources(), config.n_gpu_layers)
        except Exception as exc:  # a scan never takes the app down
            self.post_message(ScanFinished(scan_id, None, f"{exc.__class__.__name__}: {exc}"))
            return
        self.post_message(ScanFinished(scan_id, catalog))

    def on_scan_progressed(self, message: ScanProgressed) -> None:
        if message.scan_id == self._scan_id and message.total:
            self.set_status(f"Scanning {message.done}/{message.total}: {Path(message.path).name}")

    def on_scan_finished(self, message: ScanFinished) -> None:
        if message.scan_id != self._scan_id:
            return
        self.scanning = False
        self._scan_cancel = None
        self.scan_error = message.error
        if message.catalog is not None:
            self.catalog = message.catalog
            self.entries = list(message.catalog.entries)
        self.remotes = [RemoteRow(ep) for ep in self.config.endpoints]
        self.render_rows()
        if message.error:
            self.set_status(f"Scan failed: {message.error}", warn=True)

    # -- what the rows show ---------------------------------------------------------------------------
    def find(self, path: ModelRef | Path | str) -> Item | None:
        """The entry or endpoint row for a path (any alias of a file; any model of an endpoint)."""
        text = str(path)
        if text and ModelRef.parse(path).is_remote:
            return next((r for r in self.remotes if r.owns(path)), None)
        real = os.path.realpath(text)
        for e in self.entries:
            if e.realpath == real or str(e.path) == text or text in e.aliases:
                return e
        return None

    def loaded_entry(self) -> CatalogEntry | None:
        item = self.find(self.loaded) if self.loaded is not None else None
        return item if isinstance(item, CatalogEntry) else None

    def siblings(self, entry: CatalogEntry) -> list[CatalogEntry]:
        if self.catalog is None or not entry.ok:
            return []
        return [e for e in self.catalog.siblings(entry) if e in self.entries]

    def _mark(self, item: Item, loaded: CatalogEntry | None, sibling_group: str | None) -> str:
        if isinstance(item, RemoteRow):
            return (LOADED if self.loaded is not None and item.owns(self.loaded) else " ") + REMOTE
        if not item.ok:
            return BROKEN + " "
        if item is loaded:
            mark = LOADED
        elif sibling_group is not None and item.group == sibling_group:
            mark = SIBLING
        else:
            mark = " "
        return mark + (FIT_SYMBOL.get(item.fit.verdict, "?") if item.fit else " ")

    def cells(self, item: Item, loaded: CatalogEntry | None = None, sibling_group: str | None = None) -> list[Text]:
        """The row's cells as Text (file names are never read as markup; their control characters show as marks)."""
        mark = self._mark(item, loaded, sibling_group)
        if isinstance(item, RemoteRow):
            ep = item.endpoint
            values = [mark, item.name, guess_quant(ep.model), "", "", f"remote {ep.base_url}"]
            return [Text(visible(v), no_wrap=True, end="") for v in values]
        if not item.ok:
            values = [mark, item.name, "", format_bytes(item.size), "", item.error]
            styles = ["bold red"] + ["dim"] * 5
            return [Text(visible(v), style=s, no_wrap=True, end="") for v, s in zip(values, styles, strict=True)]
        note = item.fit.verdict if item.fit else ""
        if item.fit and item.fit.reason:
            note = f"{note}: {item.fit.reason}"
        values = [mark, item.name, item.quant, format_bytes(item.size), format_params(item.n_params), note]
        return [Text(visible(v), no_wrap=True, end="") for v in values]  # (file names, GGUF fields: untrusted)

    def row_tooltip(self, row: int) -> Text | None:
        """The cells of the table's `row` whole, one field a line, and the file's path (None: no such row)."""
        table = self.table
        if not 0 <= row < table.row_count:
            return None
        key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        item = self.items.get(key) if key is not None else None
        if item is None:
            return None
        _, name, quant, size, params, note = (c.plain for c in self.cells(item))
        figures = " · ".join(v for v in (quant, size, f"{params} params" if params else "") if v)
        lines = [name, figures, note, str(item.path), "d: every detail"]
        return Text("\n".join(line for line in lines if line))

    def row_text(self, key: Path | str) -> list[str]:
        """The plain text of a row's cells (for tests and screen readers of the table)."""
        table = self.query_one(DataTable)
        return [c.plain if isinstance(c, Text) else str(c) for c in table.get_row(str(key))]

    def render_rows(self) -> None:
        table = self.query_one(DataTable)
        current = self.current_key()
        table.clear()
        shown = sort_entries(filter_entries(self.entries, self.filter_text), self.sort_key)
        words = self.filter_text.casefold().split()
        remotes = [r for r in self.remotes if all(w in f"{r.name} remote".casefold() for w in words)]
        items: list[Item] = [e for e in shown if e.ok] + remotes + [e for e in shown if not e.ok]
        loaded = self.loaded_entry()
        group = loaded.group if loaded is not None and loaded.ok else None
        self.items = {}
        for item in items:
            key = str(item.path)
            if key in self.items:
                continue
            self.items[key] = item
            table.add_row(*self.cells(item, loaded, group), key=key)
        focus = self.find(self._focus) if self._focus is not None else None
        want = str(focus.path) if focus is not None else current
        if want in self.items:
            table.move_cursor(row=table.get_row_index(want))
        if focus is not None and not self.scanning:
            self._focus = None
        self._update_title()
        self.show_highlighted()

    def _update_title(self) -> None:
        n = len(self.entries) + len(self.remotes)
        title = f"Models {len(self.items)}/{n} · by {self.sort_key}"
        if self.filter_text:
            title += f" · /{self.filter_text}"
        self.query_one("#catalog-title", Label).update(title)

    def current_key(self) -> str | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def current(self) -> Item | None:
        key = self.current_key()
        return self.items.get(key) if key is not None else None

    def set_status(self, text: str, *, warn: bool = False) -> None:
        status = self.query_one("#catalog-status", Static)
        status.update(visible(text))
        status.set_class(warn, "-warn")

    def show_highlighted(self) -> None:
        """The status line explains the highlighted row (an unreadable file's reason, a fit verdict)."""
        if self.scanning:
            return
        item = self.current()
        if item is None:
            found = "no models found" if not self.entries else "no model matches the filter"
            self.set_status(f"{found} · r rescans · h searches the Hub")
        elif isinstance(item, RemoteRow):
            self.set_status(f"remote: {item.endpoint.base_url}")
        elif not item.ok:
            self.set_status(f"! {item.error}", warn=True)
        elif self.loaded is not None and item is self.loaded_entry() and self.fit_line:
            self.set_status(self.fit_line)
        elif item.fit is not None:
            text = (
                f"{item.fit.verdict}: {item.fit.reason}"
                if item.fit.reason
                else f"{item.fit.verdict} at ctx {item.fit.n_ctx}"
            )
            self.set_status(text, warn=item.fit.verdict != FITS)
        else:
            self.set_status(str(item.path))

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_highlighted()

    def mark_loaded(self, path: Path | None, fit_line: str = "") -> None:
        """Mark the loaded model (and its siblings) and put the cursor on it; a file the catalog does not list
        (loaded with `--model PATH`) is added to it."""
        self.loaded = path
        self.fit_line = fit_line
        self._focus = path
        self.render_rows()
        local = path is not None and not ModelRef.parse(path).is_remote and Path(path).is_file()
        if local and self.find(path) is None and path not in self.opened:
            self.opened.append(path)
            self.rescan(focus=path)

    # -- actions --------------------------------------------------------------------------------------
    def _choose(self, item: Item | None) -> None:
        if item is None:
            return
        if isinstance(item, CatalogEntry) and not item.ok:
            self.app.notify(item.error, title="Cannot load this file", severity="error", timeout=8, markup=False)
            return
        self.post_message(self.ModelChosen(item.path))

    def action_choose(self) -> None:
        self._choose(self.current())

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        self._choose(self.items.get(key) if key is not None else None)

    def action_cycle_sort(self) -> None:
        self.sort_key = SORT_CYCLE[(SORT_CYCLE.index(self.sort_key) + 1) % len(SORT_CYCLE)]
        self.render_rows()
        self.post_message(self.Sorted(self.sort_key))

    def action_filter(self) -> None:
        box = self.query_one(FilterInput)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#catalog-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        self.render_rows()

    @on(Input.Submitted, "#catalog-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        event.stop()
        self.filter_text = event.value.strip()
        box = self.query_one(FilterInput)
        box.display = bool(self.filter_text)
        self.render_rows()
        self.query_one(DataTable).focus()

    def action_rescan(self) -> None:
        self.rescan()

    def action_hub(self) -> None:
        self.post_message(self.HubRequested())

    def action_details(self) -> None:
        from edgetui.ui.catalog.model_details import ModelDetails

        item = self.current()
        if item is None:
            return
        siblings = self.siblings(item) if isinstance(item, CatalogEntry) else []
        details = ModelDetails(item, siblings, self.config, self.store, self.fit_resources)
        self.app.push_screen(details)

    def action_quantize(self) -> None:
        from edgetui.ui.dialogs.quantize_dialog import QuantizeDialog

        item = self.current()
        if not isinstance(item, CatalogEntry) or not item.ok:
            self.app.notify("Highlight a readable local model to quantize it.", severity="warning", timeout=4)
            return
        dialog = QuantizeDialog(item.path, item.name, item.quant, self.paths.models_dir, self.config.threads)
        self.app.push_screen(dialog, self._quantized)

    def _quantized(self, path: Path | None) -> None:
        if path is not None:
            self.app.notify(f"Made {path.name} ({format_bytes(_size(path))}).", timeout=5, markup=False)
            self.rescan(focus=path)

    def action_delete(self) -> None:
        item = self.current()
        if item is not None:
            self.post_message(self.DeleteRequested(item))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
