"""StableScroll: a screen layout that leaves a table as it was no longer refreshes its scrollbars."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from edgetui.ui.catalog.catalog_pane import CatalogTable
from tests.ui.helpers import settle
from tests.ui.textual_path import internals


class TableApp(App):
    CSS = "DataTable { height: 6; width: 20; }"  # narrower than its columns, as in the catalog pane

    def __init__(self, table: DataTable) -> None:
        super().__init__()
        self.table = table
        self.resizes = 0

    def compose(self) -> ComposeResult:
        yield self.table
        yield Static("grows", id="grows")

    def on_mount(self) -> None:
        self.table.add_column("model")
        self.table.add_column("note")
        for i in range(3):
            self.table.add_row(f"model {i}", "a note longer than the table is wide")
        self.table.on_resize = lambda event: setattr(self, "resizes", self.resizes + 1)


async def _layouts_of_a_sibling(table: DataTable) -> tuple[int, int, bool]:
    """Grow the widget below the table (a screen layout each time); then add rows past the table's height."""
    app = TableApp(table)
    async with app.run_test(size=(40, 20)) as pilot:
        await settle(pilot)
        bars = [table.vertical_scrollbar, table.horizontal_scrollbar]
        refreshes = 0
        for bar in bars:
            original = bar.refresh

            def counted(*args, _original=original, **kwargs):
                nonlocal refreshes
                refreshes += 1
                return _original(*args, **kwargs)

            bar.refresh = counted
        app.resizes = 0
        grows = app.query_one("#grows", Static)
        for n in range(2, 6):
            grows.update("\n".join(["more"] * n))
            await settle(pilot)
        sibling_refreshes, sibling_resizes = refreshes, app.resizes
        for i in range(3, 12):
            table.add_row(f"model {i}", "")
        await settle(pilot)
        return sibling_refreshes, sibling_resizes, table.show_vertical_scrollbar


@internals
async def test_a_sibling_layout_leaves_the_catalog_table_alone():
    refreshes, resizes, scrollbar = await _layouts_of_a_sibling(CatalogTable())
    assert (refreshes, resizes) == (0, 0)
    assert scrollbar  # its own growth still shows the scrollbar


async def test_a_plain_data_table_is_refreshed_by_every_layout():
    """What StableScroll is for (textual 8.2.8): if this fails, Textual fixed it and the mixin can go."""
    refreshes, _, scrollbar = await _layouts_of_a_sibling(DataTable())
    assert refreshes >= 4
    assert scrollbar
