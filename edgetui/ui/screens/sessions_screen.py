"""The sessions screen: every saved chat (newest first), full-text search, open, rename, delete, export."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Static

from edgetui.core.compare.export import export_comparisons
from edgetui.core.store.export import export_session
from edgetui.core.store.store import SessionInfo, Store, StoreError
from edgetui.core.visible_text import visible
from edgetui.ui.widgets.key_footer import KeyFooter

COLUMNS = (("updated", "Updated"), ("title", "Title"), ("model", "Model"), ("n", "Msgs"))
UPDATED_WIDTH, COUNT_WIDTH = 16, 4  # "2025-03-12 09:02", "9999"


def column_widths(width: int) -> dict[str, int]:
    """Each column's width in a table `width` columns wide: the date and count whole, the title and the model
    sharing the rest (3:2), so that every column is in view (the highlighted session's line shows them whole)."""
    room = width - 2 * len(COLUMNS) - 2 - UPDATED_WIDTH - COUNT_WIDTH  # (each cell's padding, the scrollbar)
    title = max(10, room * 3 // 5)
    return {"updated": UPDATED_WIDTH, "title": title, "model": max(8, room - title), "n": COUNT_WIDTH}


def clip(text: str, width: int) -> str:
    """`text` in `width` columns, an ellipsis where it is cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def describe(session: SessionInfo) -> str:
    """One session in full, for the line under the table (its cells may be cut)."""
    model = session.model_name or "no model"
    kind = " · comparison" if session.kind == "compare" else ""
    when = session.updated[:16].replace("T", " ")
    return f"{session.title or '(untitled)'} · {model} · {session.message_count} message(s){kind} · {when}"


class SessionsScreen(Screen[int | None]):
    """Dismisses with the id of the session to open, or None. The table fits the screen's width; the line under
    it shows the highlighted session's title and model whole."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "search", "Search"),
        Binding("r", "rename", "Rename"),
        Binding("delete,d", "delete", "Delete"),
        Binding("m", "export('md')", "Export MD"),
        Binding("j", "export('json')", "Export JSON"),
    ]

    def __init__(self, store: Store, exports: Path | None = None) -> None:
        """`exports`: the folder m and j write to (default: ./exports)."""
        super().__init__()
        self.store = store
        self.exports = exports if exports is not None else Path.cwd() / "exports"
        self.sessions: dict[str, SessionInfo] = {}
        self.widths: dict[str, int] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions"):
            yield Label("Sessions", classes="pane-title")
            yield Input(placeholder="Search titles and message text (/)", id="session-search")
            table: DataTable[str] = DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="sessions-detail", markup=False)
            yield Static("", id="sessions-status", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self._set_columns(self.app.size.width)
        self.reload()
        table.focus()
        where = self.store.path or "memory: nothing is saved"
        self.set_status(f"{len(self.sessions)} session(s) in {where}")

    def _set_columns(self, width: int) -> bool:
        """Columns for a screen `width` wide; False when they are as they were."""
        widths = column_widths(width)
        if widths == self.widths:
            return False
        self.widths = widths
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key, label in COLUMNS:
            table.add_column(label, key=key, width=widths[key])
        return True

    def on_resize(self) -> None:
        if self.widths and self._set_columns(self.app.size.width):
            self.reload(self.query_one("#session-search", Input).value.strip())

    def set_status(self, text: str, warn: bool = False) -> None:
        status = self.query_one("#sessions-status", Static)
        status.update(visible(text))
        status.set_class(warn, "-warn")

    def reload(self, query: str | None = None) -> None:
        table = self.query_one(DataTable)
        table.clear()
        try:
            sessions = self.store.list_sessions(limit=500, query=query or None)
        except StoreError as exc:
            self.set_status(str(exc), warn=True)
            return
        self.sessions = {str(s.id): s for s in sessions}
        w = self.widths
        for s in sessions:
            table.add_row(  # (titles are the user's or the model's text: never markup, no control characters)
                s.updated[:16].replace("T", " "),
                Text(visible(clip(s.title or "(untitled)", w["title"]))),
                Text(visible(clip(s.model_name or "–", w["model"]))),
                str(s.message_count),
                key=str(s.id),
            )
        self.show_highlighted()
        if query:
            self.set_status(f"{len(sessions)} session(s) match {query!r}")

    def current(self) -> SessionInfo | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.sessions.get(str(key))

    def show_highlighted(self) -> None:
        session = self.current()
        self.query_one("#sessions-detail", Static).update(visible(describe(session)) if session is not None else "")

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.show_highlighted()

    @on(Input.Changed, "#session-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.reload(event.value.strip())

    @on(Input.Submitted, "#session-search")
    def _search_submitted(self) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#session-search", Input).focus()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        session = self.current()
        if session is not None:
            self.dismiss(session.id)

    def action_close(self) -> None:
        self.dismiss(None)

    @work
    async def action_rename(self) -> None:
        from edgetui.ui.dialogs.input_dialog import InputDialog

        session = self.current()
        if session is None:
            return
        title = await self.app.push_screen_wait(InputDialog("Rename session", session.title))
        if title is None or not title.strip():
            return
        try:
            self.store.rename_session(session.id, title)
        except StoreError as exc:
            self.set_status(str(exc), warn=True)
            return
        self.reload(self.query_one("#session-search", Input).value.strip())

    @work
    async def action_delete(self) -> None:
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        session = self.current()
        if session is None:
            return
        title = session.title or "(untitled)"
        body = f"Delete “{title}” and its {session.message_count} message(s)? This cannot be undone."
        if not await self.app.push_screen_wait(ConfirmDialog("Delete session", body, yes="Delete")):
            return
        try:
            self.store.delete_session(session.id)
        except StoreError as exc:
            self.set_status(str(exc), warn=True)
            return
        self.reload(self.query_one("#session-search", Input).value.strip())
        self.set_status(f"Deleted session {session.id}.")

    def action_export(self, fmt: str) -> None:
        session = self.current()
        if session is None:
            return
        folder = self.exports
        compare = session.kind == "compare"
        target = folder / f"{'compare' if compare else 'session'}-{session.id}.{fmt}"
        try:
            text = (
                export_comparisons(self.store, session.id, fmt)
                if compare
                else export_session(self.store, session.id, fmt)
            )
            folder.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except (StoreError, OSError) as exc:
            self.set_status(f"Export failed: {exc}", warn=True)
            return
        self.set_status(f"Exported to {target}")
        self.app.notify(f"Exported to {target}", timeout=4)
