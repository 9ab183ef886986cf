"""The catalog pane: the models on this machine in a table; Enter loads the highlighted one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Label


@dataclass(frozen=True)
class CatalogRow:
    key: str
    name: str
    quant: str
    size: int
    path: Path
    note: str = ""


class CatalogPane(Vertical):
    """A table of models; posts `ModelChosen` when the user presses Enter on one."""

    BINDINGS = [Binding("enter", "choose", "Load model", show=False)]

    class ModelChosen(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: dict[str, CatalogRow] = {}
        self.loaded: Path | None = None

    def compose(self) -> ComposeResult:
        yield Label("Models", classes="pane-title")
        table: DataTable[str] = DataTable(id="catalog-table", cursor_type="row", zebra_stripes=True)
        yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("", key="mark", width=1)
        table.add_column("Model", key="name")
        table.add_column("Quant", key="quant")
        table.add_column("Size", key="size")

    def set_rows(self, rows: list[CatalogRow]) -> None:
        from edgetui.ui.widgets.gauge_pane import human_bytes

        table = self.query_one(DataTable)
        table.clear()
        self.rows = {r.key: r for r in rows}
        for r in rows:
            mark = "●" if self.loaded and r.path == self.loaded else ("!" if r.note else " ")
            table.add_row(mark, r.name, r.quant, human_bytes(r.size), key=r.key)

    def mark_loaded(self, path: Path | None) -> None:
        self.loaded = path
        self.set_rows(list(self.rows.values()))

    def action_choose(self) -> None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        if key in self.rows:
            self.post_message(self.ModelChosen(self.rows[key].path))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = event.row_key.value
        if key in self.rows:
            self.post_message(self.ModelChosen(self.rows[key].path))
