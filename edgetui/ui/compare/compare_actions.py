"""The compare screen's key actions (models, toggles, new, export, stop) and the replay of a saved session."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work

from edgetui.core.compare.compare import CONCURRENT, SEQUENTIAL, SIDES, Compare
from edgetui.core.compare.export import write_export
from edgetui.core.store.store import StoreError
from edgetui.core.types import ChatMessage
from edgetui.ui.chat.prompt_input import PromptInput
from edgetui.ui.compare.compare_runner import replay
from edgetui.ui.compare.model_picker import Candidate, ModelPicker

if TYPE_CHECKING:
    from edgetui.ui.compare.compare_runner import CompareRunner


class CompareActions:
    """Mixed into CompareScreen: what the keys do while no worker runs (Escape also while one does)."""

    busy: str
    paths: dict[str, Path | None]
    compare: Compare | None
    greedy: bool
    concurrent: bool
    session_id: int | None
    candidates: list[Candidate] | None
    runner: CompareRunner
    last: Any
    last_quality: Any
    _cancel: threading.Event | None
    _restored: tuple[dict[str, list[ChatMessage]], int] | None
    app: Any

    def stop(self) -> bool:
        """Stop the running comparison or quality measurement (what finished stays); False when idle."""
        if not self.busy:
            return False
        if self._cancel is not None:
            self._cancel.set()
        self.set_status("Stopping…", warn=True)
        return True

    def action_stop_or_leave(self) -> None:
        if not self.stop():
            self.dismiss(None)

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_toggle_greedy(self) -> None:
        if self._refuse_busy():
            return
        self.greedy = not self.greedy
        if self.compare is not None:
            self.compare.sampler = self._sampler()
        self._refresh_bar()
        sampled = "The chat's sampler, one seed for both: agreement figures are only indicative."
        self.set_status("Greedy decoding: answers are comparable token by token." if self.greedy else sampled)

    def action_toggle_concurrent(self) -> None:
        if self._refuse_busy():
            return
        self.concurrent = not self.concurrent
        cmp = self.compare
        if cmp is not None:
            if not cmp.memory.both_fit:
                self.set_status(f"concurrent run not possible: {cmp.memory.reason}", warn=True)
                return
            cmp.mode = CONCURRENT if self.concurrent else SEQUENTIAL
        self._refresh_bar()
        self.set_status("A and B answer at the same time." if self.concurrent else "A answers, then B.")

    @work(exclusive=True, group="cmp-ask")
    async def action_pick(self, side: str) -> None:
        if self._refuse_busy():
            return
        chosen = await self.app.push_screen_wait(ModelPicker(side, self.paths[side], self.candidates))
        if chosen is None or self._refuse_busy() or chosen == self.paths[side]:
            return
        self.paths[side] = Path(chosen)
        await self._reset(close=True)
        self.set_status(f"Model {side.upper()}: {Path(chosen).name}. A new comparison starts with the next prompt.")

    async def action_new(self) -> None:
        if self._refuse_busy():
            return
        await self._reset(close=False)
        self.set_status("New comparison: the next prompt starts both conversations again.")

    async def _reset(self, close: bool) -> None:
        if close and self.compare is not None:
            self.runner.close_later([self.compare])
            self.compare = None
        elif self.compare is not None:
            self.compare.histories, self.compare.turns = {s: [] for s in SIDES}, 0
        self._restored, self.session_id, self.last, self.last_quality = None, None, None, None
        for side in SIDES:
            await self.column(side).clear()
            self._show_model(side)
        self.summary.clear()
        self._refresh_bar()

    def action_export(self) -> None:
        if self.session_id is None:
            self.set_status("Nothing to export yet: run a comparison first.", warn=True)
            return
        folder = self.app.paths.data_dir / "exports"  # type: ignore[attr-defined]
        try:
            written = write_export(self.app.store, self.session_id, folder)  # type: ignore[attr-defined]
        except StoreError as exc:
            self.set_status(f"Export failed: {exc}", warn=True)
            return
        self.set_status("Exported to " + " and ".join(str(p) for p in written))
        self.app.notify(f"Exported to {written[0].parent}", timeout=4)

    async def _restore(self, session_id: int) -> None:
        """Show a saved comparison session; the next prompt continues its conversations."""
        try:
            rows = self.app.store.list_comparisons(session_id=session_id, limit=100_000)  # type: ignore[attr-defined]
        except StoreError as exc:
            self.set_status(str(exc), warn=True)
            return
        saved = replay(list(reversed(rows)))
        for side in SIDES:
            if self.paths[side] is None and saved.paths.get(side):
                self.paths[side] = Path(saved.paths[side])
        for prompt, answers, footers in saved.turns:
            for side in SIDES:
                await self.column(side).show_turn(prompt, answers[side], footers[side])
        if saved.last is not None:
            self.summary.show_speed(saved.last.get("deltas"))
            self.summary.show_agreement(saved.last.get("agreement"))
        if saved.quality is not None:
            self.summary.show_quality(saved.quality)
        self._restored = (saved.histories, saved.complete_turns) if saved.complete_turns else None
        self.set_status(f"Saved comparison: {len(saved.turns)} turn(s). Enter continues both conversations.")
