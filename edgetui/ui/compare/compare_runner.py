"""The thread side of the compare screen: thin wrappers over Compare that only post messages (replaying a saved
comparison is headless: edgetui.core.compare.replay, re-exported here for the screen)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgetui.config import Endpoint
from edgetui.core.compare.compare import SIDES, Compare, compare_to_record
from edgetui.core.compare.quality import QualityCancelled
from edgetui.core.compare.replay import Replay as Replay
from edgetui.core.compare.replay import replay as replay
from edgetui.core.engines.llama import FLUSH_S
from edgetui.core.store.store import StoreError
from edgetui.core.types import ChatMessage, EngineError, LoadOptions, SamplerSettings
from edgetui.ui.compare.compare_messages import (
    CompareEvent,
    CompareFailed,
    ComparePrepared,
    CompareTurnDone,
    QualityDone,
    QualityProgressed,
)


@dataclass
class CompareJob:
    """Everything a worker needs, read on the UI thread before it starts."""

    path_a: Path
    path_b: Path
    sampler: SamplerSettings
    options: LoadOptions
    store: Any
    concurrent: bool = False
    available_bytes: int | None = None
    session_id: int | None = None
    compare: Compare | None = None  # the one in use, or None to build one
    restored: tuple[dict[str, list[ChatMessage]], int] | None = None  # histories and turns of a saved session
    quality_ctx: int = 512
    endpoints: tuple[Endpoint, ...] = ()  # the configured remote endpoints a side may name (openai:<name>/...)

    @property
    def name(self) -> str:
        return f"{self.path_a.stem} vs {self.path_b.stem}"


class EventSink:
    """Compare's on_event for one run: posts CompareEvents, with the chunks coalesced per side."""

    def __init__(self, post: Callable[[Any], Any], run_id: int) -> None:
        self.post, self.run_id = post, run_id
        self.buf: dict[str, list[str]] = {s: [] for s in SIDES}
        self.last = dict.fromkeys(SIDES, 0.0)
        self.lock = threading.Lock()

    def __call__(self, side: str, kind: str, payload: Any) -> None:
        if kind == "chunk":
            with self.lock:
                self.buf[side].append(payload.text)
                if payload.t - self.last[side] < FLUSH_S:
                    return
                self.last[side] = payload.t
            self.flush(side)
            return
        if kind == "finished":
            self.flush(side)
        self.post(CompareEvent(self.run_id, side, kind, payload))

    def flush(self, side: str) -> None:
        with self.lock:
            text = "".join(self.buf[side])
            self.buf[side].clear()
        if text:
            self.post(CompareEvent(self.run_id, side, "text", text))


def read_text(path: str) -> str:
    p = Path(path).expanduser()
    try:
        return p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise EngineError(f"Cannot read {p}: {exc.strerror or exc}") from exc


class CompareRunner:
    """Runs turns and quality measurements (call from thread workers); one at a time, under `lock`."""

    def __init__(self, post: Callable[[Any], Any]) -> None:
        self.post = post
        self.lock = threading.Lock()  # held while a Compare is in use; closing waits for it
        self.built: list[Compare] = []  # every Compare made here, to close when the screen goes

    def prepare(self, run_id: int, job: CompareJob, sink: EventSink) -> Compare:
        cmp = job.compare
        if cmp is None:
            cmp = Compare(job.path_a, job.path_b, sampler=job.sampler, load_options=job.options,
                          concurrent=job.concurrent, available_bytes=job.available_bytes, on_event=sink,
                          endpoints=job.endpoints)  # fmt: skip
            if job.restored is not None:
                histories, turns = job.restored
                cmp.histories, cmp.turns = {s: list(h) for s, h in histories.items()}, turns
            self.built.append(cmp)
            self.post(ComparePrepared(run_id, cmp))
        cmp.on_event = sink
        return cmp

    @staticmethod
    def save(job: CompareJob, record: dict[str, Any], title: str) -> tuple[int | None, str]:
        """Add the record to the job's comparison session (created, kind 'compare', on the first save)."""
        sid = job.session_id
        try:
            if sid is None:
                sid = job.store.create_session(model_path=str(job.path_a), model_name=job.name, sampler=job.sampler,
                                               title=title, kind="compare")  # fmt: skip
            job.store.add_comparison(**record, session_id=sid)
        except StoreError as exc:
            return sid, f"Not saved: {exc}"
        return sid, ""

    def _fail(self, run_id: int, exc: BaseException) -> None:
        text = str(exc) if isinstance(exc, EngineError) else f"{exc.__class__.__name__}: {exc}"
        self.post(CompareFailed(run_id, text))

    def turn(self, run_id: int, cancel: threading.Event, messages: list[ChatMessage], job: CompareJob) -> None:
        """One turn through A and B (a new conversation, or a follow-up when one is going on)."""
        with self.lock:
            sink = EventSink(self.post, run_id)
            try:
                cmp = self.prepare(run_id, job, sink)
                follow = cmp.turns > 0
                result = cmp.follow_up(messages[-1].content, cancel) if follow else cmp.run(messages, cancel)
            except Exception as exc:  # EngineError, or anything else: a message, never a traceback
                self._fail(run_id, exc)
                return
            sid, error = self.save(job, compare_to_record(result), f"{job.name}: {messages[-1].content}")
            self.post(CompareTurnDone(run_id, result, sid, error))

    def quality(self, run_id: int, cancel: threading.Event, path: str, text: str, job: CompareJob) -> None:
        """Compare.measure_quality on a text file (`path`) or on `text` (the conversation so far)."""
        with self.lock:
            sink = EventSink(self.post, run_id)
            report, cancelled = None, False
            try:
                if path:
                    text = read_text(path)
                cmp = self.prepare(run_id, job, sink)
                report = cmp.measure_quality(
                    text, n_ctx=min(job.quality_ctx, cmp.options.n_ctx), cancel=cancel,
                    progress=lambda done, total: self.post(QualityProgressed(run_id, done, total)),
                )  # fmt: skip
            except QualityCancelled as exc:
                report, cancelled = exc.partial, True
            except Exception as exc:
                self._fail(run_id, exc)
                return
            sid, error = job.session_id, ""
            if report is not None:
                record = compare_to_record(report)
                record["prompt"] = f"quality on {path or 'the conversation'}"
                sid, error = self.save(job, record, f"{job.name}: quality")
            self.post(QualityDone(run_id, report, cancelled, sid, error))

    def close_later(self, which: Sequence[Compare] | None = None) -> None:
        """Unload models in a thread once no worker uses them (None: every Compare made here)."""

        def close() -> None:
            with self.lock:
                for cmp in list(which) if which is not None else list(self.built):
                    cmp.close()

        threading.Thread(target=close, name="compare-close", daemon=True).start()
