"""Side by side: one prompt through two models (two quantizations), their speed, agreement and quality loss."""

from __future__ import annotations

import threading
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol, cast

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Static

from edgetui.config import Config
from edgetui.core.compare.compare import CONCURRENT, SEQUENTIAL, SIDES, SWAP, Compare
from edgetui.core.compare.export import quality_summary, write_export
from edgetui.core.engines.llama import Engine
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import ChatMessage, LoadOptions, SamplerSettings
from edgetui.core.visible_text import visible
from edgetui.paths import Paths
from edgetui.ui.chat.prompt_input import PromptInput
from edgetui.ui.compare.compare_column import CompareColumn
from edgetui.ui.compare.compare_messages import (
    CompareEvent,
    CompareFailed,
    ComparePrepared,
    CompareTurnDone,
    ModelsFound,
    QualityDone,
    QualityProgressed,
)
from edgetui.ui.compare.compare_runner import CompareJob, CompareRunner, replay
from edgetui.ui.compare.compare_summary import CompareSummary
from edgetui.ui.compare.model_picker import Candidate, ModelPicker, find_candidates, sibling_of, styles_dir
from edgetui.ui.widgets.key_footer import KeyFooter

HINT = "Enter runs A and B · Tab, then the keys below · Esc stops, or goes back"  # (fits 80 columns)


class CompareHost(Protocol):
    """What the compare screen reads of its owner (the app): where comparisons are kept and exported, the settings
    (endpoints, system prompt), the chat's sampler and load options, and the engine (its model is A's default)."""

    store: Store
    paths: Paths
    config: Config

    @property
    def sampler(self) -> SamplerSettings: ...

    @property
    def engine(self) -> Engine: ...

    def load_options(self) -> LoadOptions: ...


class CompareScreen(Screen[None]):
    """Two columns (A, B) streaming the same prompt; the speed table, agreement and quality below them.

    The keys act while no worker runs (Escape also while one does). What it works with comes from `host` (by
    default the app it runs in, which then provides what `CompareHost` lists)."""

    CSS_PATH = [styles_dir() / "compare.tcss"]
    BINDINGS = [
        Binding("escape", "stop_or_leave", "Stop/Back"),
        Binding("a", "pick('a')", "Model A"),
        Binding("b", "pick('b')", "Model B"),
        Binding("g", "toggle_greedy", "Greedy"),
        Binding("c", "toggle_concurrent", "Concurrent"),
        Binding("q", "quality", "Quality"),
        Binding("x", "export", "Export"),
        Binding("n", "new", "New"),
        Binding("p", "focus_prompt", "Prompt"),
    ]

    def __init__(
        self,
        path_a: str | Path | None = None,
        path_b: str | Path | None = None,
        *,
        max_tokens: int | None = None,
        load_options: LoadOptions | None = None,
        available_bytes: int | None = None,
        concurrent: bool = False,
        greedy: bool = True,
        quality_ctx: int = 512,
        session_id: int | None = None,
        host: CompareHost | None = None,
    ) -> None:
        """Models default to the chat's (A) and a sibling quantization (B); `available_bytes` overrides free RAM."""
        super().__init__()
        self._host = host
        self.paths: dict[str, Path | None] = {"a": None, "b": None}
        for side, p in zip(SIDES, (path_a, path_b), strict=True):
            self.paths[side] = Path(p).expanduser() if p else None
        self.max_tokens, self.load_options, self.available_bytes = max_tokens, load_options, available_bytes
        self.concurrent, self.greedy, self.quality_ctx = concurrent, greedy, quality_ctx
        self.session_id = session_id
        self.compare: Compare | None = None
        self.busy = ""  # "" | "turn" | "quality"
        self.last: Any = None  # the last CompareResult
        self.last_quality: Any = None
        self.candidates: list[Candidate] | None = None
        self._run_id = 0
        self._cancel: threading.Event | None = None
        self.runner = CompareRunner(self.post_message)
        self._restored: tuple[dict[str, list[ChatMessage]], int] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="cmp-bar", markup=False)  # (file and model names)
        with Horizontal(id="cmp-columns"):
            yield CompareColumn("a", id="cmp-a")
            yield CompareColumn("b", id="cmp-b")
        yield CompareSummary(id="cmp-summary")
        yield Static(HINT, id="cmp-status", markup=False)  # (errors name files, servers answer them)
        yield PromptInput(id="cmp-prompt", placeholder="A prompt for both models · Enter runs · Esc back")
        yield KeyFooter()

    async def on_mount(self) -> None:
        self.query_one(PromptInput).focus()
        if self.session_id is not None:
            await self._restore(self.session_id)
        for side in SIDES:
            self._show_model(side)
        self._refresh_bar()
        if not all(self.paths.values()):
            info = self.host.engine.info
            self._find_defaults(self.paths["a"] or (Path(info.path) if info is not None else None), self.paths["b"])

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        self.runner.close_later()

    # -- small helpers ------------------------------------------------------------------------------
    @property
    def host(self) -> CompareHost:
        return self._host if self._host is not None else cast(CompareHost, self.app)

    def column(self, side: str) -> CompareColumn:
        return self.query_one(f"#cmp-{side}", CompareColumn)

    @property
    def summary(self) -> CompareSummary:
        return self.query_one(CompareSummary)

    def set_status(self, text: str, *, warn: bool = False) -> None:
        status = self.query_one("#cmp-status", Static)
        status.update(visible(text))
        status.set_class(warn, "-warn")

    def _refresh_bar(self) -> None:
        mode = CONCURRENT if self.concurrent else SEQUENTIAL
        mode = self.compare.mode if self.compare is not None else mode
        names = [f"{s.upper()}: {p.stem if p else '(choose with ' + s + ')'}" for s, p in self.paths.items()]
        sampler = "greedy" if self.greedy else "chat sampler"
        self.query_one("#cmp-bar", Static).update(visible(" · ".join([sampler, mode, *names])))

    def _show_model(self, side: str) -> None:
        p = self.paths[side]
        self.column(side).set_model(p.stem if p else "(no model: press " + side + ")")

    def _refuse_busy(self) -> bool:
        if self.busy:
            self.app.bell()
            self.set_status("Still running: Esc stops it first.", warn=True)
        return bool(self.busy)

    def _sampler(self) -> SamplerSettings:
        chat = self.host.sampler
        max_tokens = self.max_tokens or chat.max_tokens
        if self.greedy:
            return SamplerSettings.greedy(max_tokens=max_tokens, seed=chat.seed if chat.seed >= 0 else 0)
        return replace(chat, max_tokens=max_tokens)

    def _options(self) -> LoadOptions:
        if self.load_options is not None:
            return self.load_options
        return self.host.load_options()

    def _job(self) -> CompareJob:
        """What a worker needs, read on the UI thread."""
        pa, pb = self.paths["a"], self.paths["b"]
        assert pa is not None and pb is not None
        host = self.host
        return CompareJob(pa, pb, self._sampler(), self._options(), host.store, self.concurrent,
                          self.available_bytes, self.session_id, self.compare, self._restored, self.quality_ctx,
                          tuple(host.config.endpoints))  # fmt: skip

    def _begin(self, kind: str) -> tuple[int, threading.Event]:
        self._run_id += 1
        self._cancel = threading.Event()
        self.busy = kind
        return self._run_id, self._cancel

    # -- keys -------------------------------------------------------------------------------------------
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
        host = self.host
        try:
            written = write_export(host.store, self.session_id, host.paths.data_dir / "exports")
        except StoreError as exc:
            self.set_status(f"Export failed: {exc}", warn=True)
            return
        self.set_status("Exported to " + " and ".join(str(p) for p in written))
        self.app.notify(f"Exported to {written[0].parent}", timeout=4)

    # -- a saved comparison -----------------------------------------------------------------------------
    async def _restore(self, session_id: int) -> None:
        """Show a saved comparison session; the next prompt continues its conversations."""
        try:
            rows = self.host.store.list_comparisons(session_id=session_id, limit=100_000)
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

    # -- default models ----------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="cmp-defaults")
    def _find_defaults(self, path_a: Path | None, path_b: Path | None) -> None:
        try:
            candidates = find_candidates(self.host.paths, self.host.config)
        except Exception:
            candidates = []
        if path_a is None:
            from edgetui.core.models.default import default_model_path

            path_a = default_model_path() or (candidates[0].path if candidates else None)
        if path_b is None and path_a is not None:
            path_b = sibling_of(path_a, candidates)
        self.post_message(ModelsFound(path_a, path_b, candidates))

    def on_models_found(self, message: ModelsFound) -> None:
        self.candidates = message.candidates
        for side, p in (("a", message.path_a), ("b", message.path_b)):
            if self.paths[side] is None and p is not None:
                self.paths[side] = Path(p)
                self._show_model(side)
        self._refresh_bar()
        if self.paths["b"] is None:
            self.set_status("No other quantization of A was found: Tab, then b, to choose model B.", warn=True)

    # -- a turn ---------------------------------------------------------------------------------------
    @on(PromptInput.Submitted, "#cmp-prompt")
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        text = event.text.strip()
        if not text or self._refuse_busy():
            return
        if not (self.paths["a"] and self.paths["b"]):
            self.set_status("Choose model A and model B first: Tab, then a / b.", warn=True)
            return
        self.query_one(PromptInput).clear()
        job = self._job()
        run_id, cancel = self._begin("turn")
        for side in SIDES:
            await self.column(side).start_turn(text)
        self.summary.show_agreement(None, "identical tokens: … (answering)")
        self.set_status("Answering… Esc stops (the partial answers stay).")
        system = self.host.config.system_prompt
        messages = ([ChatMessage("system", system)] if system else []) + [ChatMessage("user", text)]
        self.run_turn(run_id, cancel, messages, job)

    @work(thread=True, group="cmp-run")
    def run_turn(self, run_id: int, cancel: threading.Event, messages: list[ChatMessage], job: CompareJob) -> None:
        self.runner.turn(run_id, cancel, messages, job)

    def on_compare_prepared(self, message: ComparePrepared) -> None:
        if message.run_id != self._run_id:
            return
        self.compare = message.compare
        self._restored = None
        self._refresh_bar()
        if self.compare.mode == SWAP:
            self.set_status(f"{SWAP}: {self.compare.memory.reason}", warn=True)

    async def on_compare_event(self, message: CompareEvent) -> None:
        if message.run_id != self._run_id:
            return
        col, payload = self.column(message.side), message.payload
        if message.kind == "loading":
            col.set_state("loading…")
        elif message.kind == "loaded":
            col.set_model(payload.name, payload.quant)
            col.set_state(f"loaded in {payload.load_s:.2f} s")
        elif message.kind == "text":
            await col.append(payload)
        elif message.kind == "finished":
            await col.finish(payload)
            if self.compare is not None and self.compare.mode == SWAP and col.state.startswith("loaded"):
                col.set_state("unloaded")

    async def on_compare_turn_done(self, message: CompareTurnDone) -> None:
        if message.run_id != self._run_id:
            return
        r = message.result
        self.busy, self._cancel, self.last = "", None, r
        self.session_id = message.session_id if message.session_id is not None else self.session_id
        self.summary.show_speed(r.deltas)
        ag = r.agreement
        if r.cancelled:
            self.summary.show_agreement(None, "stopped: the partial answers stay; this turn is not continued")
        else:
            self.summary.show_agreement(asdict(ag) if ag else None)
        if ag is not None and ag.first_divergence is not None:
            for side, start in (("a", ag.char_offset_a), ("b", ag.char_offset_b)):
                res = getattr(r, side)
                nxt = ag.first_divergence + 1
                end = res.token_offsets[nxt] if nxt < len(res.token_offsets) else len(res.answer)
                await self.column(side).mark_divergence(start, end)
        notes = list(r.notes)
        if r.memory_mode == SWAP and r.memory.reason:
            notes.insert(0, f"{SWAP}: {r.memory.reason}")
        self.summary.show_notes(notes)
        if message.save_error:
            self.set_status(message.save_error, warn=True)
        elif r.cancelled:
            self.set_status(f"Stopped. The partial answers stay. Saved as comparison turn {r.turn}.", warn=True)
        else:
            self.set_status(f"Turn {r.turn} saved · Enter continues both conversations · q quality · x export")

    async def on_compare_failed(self, message: CompareFailed) -> None:
        if message.run_id != self._run_id:
            return
        kind, self.busy, self._cancel = self.busy, "", None
        for side in SIDES:
            col = self.column(side)
            await col.finish_stream()
            if kind == "turn":
                col.fail(message.error)
            if col.state == "loading…":
                col.set_state("not loaded", warn=True)
        if kind == "quality":
            self.summary.show_quality(None, f"quality not measured: {message.error}")
        self.set_status(message.error, warn=True)

    # -- quality --------------------------------------------------------------------------------------
    def _conversation_text(self) -> str:
        if self.compare is not None:
            history = self.compare.histories["a"]
        else:
            history = self._restored[0]["a"] if self._restored else []
        return "\n\n".join(m.content for m in history)

    @work(exclusive=True, group="cmp-ask")
    async def action_quality(self) -> None:
        from edgetui.ui.dialogs.input_dialog import InputDialog

        if self._refuse_busy():
            return
        if not (self.paths["a"] and self.paths["b"]):
            self.set_status("Choose model A and model B first (a / b).", warn=True)
            return
        conversation = self._conversation_text()
        hint = "empty: the conversation so far" if conversation else "no conversation yet"
        answer = await self.app.push_screen_wait(
            InputDialog("Quality of B against A: a text file to measure on", "", placeholder=f"path · {hint}")
        )
        if answer is None or self._refuse_busy():
            return
        path = answer.strip()
        if not path and not conversation:
            self.set_status("Nothing to measure yet: run a prompt first, or give a text file.", warn=True)
            return
        job = self._job()
        run_id, cancel = self._begin("quality")
        self.summary.show_quality(None, "measuring quality… Esc cancels")
        self.summary.progress(0, None)
        self.set_status("Measuring quality: teacher-forcing the text through A and B… Esc cancels.")
        self.run_quality(run_id, cancel, path, conversation, job)

    @work(thread=True, group="cmp-run")
    def run_quality(self, run_id: int, cancel: threading.Event, path: str, text: str, job: CompareJob) -> None:
        self.runner.quality(run_id, cancel, path, text, job)

    def on_quality_progressed(self, message: QualityProgressed) -> None:
        if message.run_id == self._run_id and self.busy == "quality":
            self.summary.progress(message.done, message.total)

    def on_quality_done(self, message: QualityDone) -> None:
        if message.run_id != self._run_id:
            return
        self.busy, self._cancel = "", None
        self.session_id = message.session_id if message.session_id is not None else self.session_id
        report = message.report
        if report is None:
            self.summary.show_quality(None, "quality: cancelled before the first chunk")
            self.set_status("Quality measurement cancelled.", warn=True)
            return
        self.last_quality = report
        lines = quality_summary(report.to_dict())
        if message.cancelled:
            lines.insert(0, "cancelled: figures over the chunks finished")
        self.summary.show_quality(None, "\n".join(lines))
        if report.notes:
            self.summary.show_notes(list(report.notes))
        warn = bool(message.save_error or message.cancelled)
        self.set_status(message.save_error or f"Quality measured on {report.text_tokens} tokens.", warn=warn)
