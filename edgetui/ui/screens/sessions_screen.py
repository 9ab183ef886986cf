"""The sessions screen: every saved chat (newest first), full-text search, open, rename, delete, export."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, Static

from edgetui.core.compare_export import export_comparisons
from edgetui.core.export import export_session
from edgetui.core.store import SessionInfo, Store, StoreError
from edgetui.ui.screens.key_footer import KeyFooter


class SessionsScreen(Screen[int | None]):
    """Dismisses with the id of the session to open, or None."""

    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("enter", "open", "Open", show=True),
        Binding("slash", "search", "Search"),
        Binding("r", "rename", "Rename"),
        Binding("delete,d", "delete", "Delete"),
        Binding("m", "export('md')", "Export MD"),
        Binding("j", "export('json')", "Export JSON"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.sessions: dict[str, SessionInfo] = {}

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions"):
            yield Label("Sessions", classes="pane-title")
            yield Input(placeholder="Search titles and message text (/)", id="session-search")
            table: DataTable[str] = DataTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="sessions-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("updated", "Updated"), ("title", "Title"), ("model", "Model"), ("n", "Msgs")):
            table.add_column(label, key=key)
        self.reload()
        table.focus()
        where = self.store.path or "memory: nothing is saved"
        self.set_status(f"{len(self.sessions)} session(s) in {where}")

    def set_status(self, text: str, warn: bool = False) -> None:
        status = self.query_one("#sessions-status", Static)
        status.update(text)
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
        for s in sessions:
            table.add_row(
                s.updated[:16].replace("T", " "),
                s.title or "(untitled)",
                s.model_name or "–",
                str(s.message_count),
                key=str(s.id),
            )
        if query:
            self.set_status(f"{len(sessions)} session(s) match {query!r}")

    def current(self) -> SessionInfo | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.sessions.get(str(key))

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
        from edgetui.ui.screens.input_dialog import InputDialog

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
        from edgetui.ui.screens.confirm_dialog import ConfirmDialog

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
        paths = getattr(self.app, "paths", None)
        folder = (paths.data_dir if paths else Path.cwd()) / "exports"
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
