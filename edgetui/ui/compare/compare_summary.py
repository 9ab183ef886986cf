"""Below the compare columns: the speed table (A, B, B vs A), token agreement and the quality figures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, ProgressBar, Static

from edgetui.core.compare.export import SPEED_ROWS, agreement_summary, quality_summary, speed_cells
from edgetui.core.visible_text import visible

QUALITY_HINT = "quality: q measures B's loss against A (perplexity, KL divergence)"


class CompareSummary(Horizontal):
    """`show_speed(result.deltas)`, `show_agreement(...)`, `show_quality(report dict)`, `progress(done, total)`."""

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="cmp-speed", cursor_type="none", zebra_stripes=True)
        yield table
        with VerticalScroll(id="cmp-info"):
            # (figures of a saved session, errors, notes that name models: the database's, a server's)
            yield Static("identical tokens: –", id="cmp-agree", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="cmp-progress")
            yield Static(QUALITY_HINT, id="cmp-quality", markup=False)
            yield Static("", id="cmp-notes", markup=False)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("", key="label")
        for key, label in (("a", "A"), ("b", "B"), ("vs", "B vs A")):
            table.add_column(label, key=key)
        for key, label, _, _ in SPEED_ROWS:
            table.add_row(label, "–", "–", "–", key=key)
        self.query_one(ProgressBar).display = False

    def speed_row(self, key: str) -> list[str]:
        """The cells of one row as text (for tests and copying)."""
        return [str(c) for c in self.query_one(DataTable).get_row(key)]

    def show_speed(self, deltas: Mapping[str, Mapping[str, Any]] | None) -> None:
        table = self.query_one(DataTable)
        for key, _, _, _ in SPEED_ROWS:
            cells = speed_cells(deltas[key], key) if deltas and key in deltas else ("–", "–", "–")
            for col, value in zip(("a", "b", "vs"), cells, strict=True):
                table.update_cell(key, col, value, update_width=True)

    def show_agreement(self, agreement: Mapping[str, Any] | None, text: str = "") -> None:
        self.query_one("#cmp-agree", Static).update(visible(text or agreement_summary(agreement)))

    def show_notes(self, notes: list[str]) -> None:
        self.query_one("#cmp-notes", Static).update(visible("\n".join(f"note: {n}" for n in notes)))

    def progress(self, done: int | None, total: int | None) -> None:
        """Show the quality progress bar (None hides it)."""
        bar = self.query_one(ProgressBar)
        if done is None:
            bar.display = False
            return
        bar.display = True
        bar.update(total=total, progress=done)

    def show_quality(self, report: Mapping[str, Any] | None, text: str = "") -> None:
        self.progress(None, None)
        body = text or ("\n".join(quality_summary(report)) if report else QUALITY_HINT)
        self.query_one("#cmp-quality", Static).update(visible(body))

    def clear(self) -> None:
        self.show_speed(None)
        self.show_agreement(None, "identical tokens: –")
        self.show_quality(None)
        self.show_notes([])
