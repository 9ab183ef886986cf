"""Side by side: one conversation through two models (two quantizations of one model), speed and agreement.

`Compare` keeps one LlamaEngine and one chat history per side ('a' and 'b') and runs every turn through both
with identical sampler settings and seed. Memory plan (`plan_memory`, from edgetui.core.models.fit's estimate):
when both models fit in RAM together they stay loaded and run one after the other ("sequential", the fair
way to time them on a small CPU) or in two threads ("concurrent"); otherwise each side is loaded, run and
unloaded in turn ("sequential: not enough memory for both"). Agreement is measured on tokens: each answer
is tokenised with its own model (the vocabularies are checked to be the same) and compared position by
position, which is meaningful with greedy decoding (`SamplerSettings.greedy()`). A side that is a remote ModelRef
(`openai:<endpoint>/<model>`) runs on that configured endpoint through OpenAIEngine: it needs no local memory, has
no file size or RSS, and gives neither token ids (agreement is then not measured) nor logits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgetui.config import Config, Endpoint
from edgetui.core.compare.memory import plan_memory
from edgetui.core.compare.quality import Quality
from edgetui.core.compare.quality_report import QualityReport
from edgetui.core.compare.records import (
    Agreement,
    CompareResult,
    SideResult,
    SpeedRecord,
    compare_to_record,
)
from edgetui.core.engines.factory import make_engine
from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.gguf.files import check_gguf_file
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import (
    ChatMessage,
    EngineError,
    GenerationStats,
    LoadOptions,
    SamplerSettings,
    StopReason,
)

__all__ = ["CONCURRENT", "SEQUENTIAL", "SIDES", "SWAP", "Compare", "compare_to_record", "plan_memory"]

SIDES = ("a", "b")
SEQUENTIAL, CONCURRENT, SWAP = "sequential", "concurrent", "sequential: not enough memory for both"
# on_event(side 'a'|'b', kind, payload): 'loading' {"path": str}, 'loaded' ModelInfo, 'chunk' Chunk,
# 'finished' SideResult. Called from worker threads in concurrent mode.
OnEvent = Callable[[str, str, Any], None]
NO_REMOTE_VOCAB = "agreement needs both vocabularies (remote side)"
NO_REMOTE_LOGITS = "quality needs logits: a remote endpoint does not give them"


def _vocab_fingerprint(engine: LlamaEngine) -> str:
    import hashlib

    import llama_cpp

    llm = engine.llama
    vocab, h = llm._model.vocab, hashlib.sha1()
    for i in range(llm.n_vocab()):
        h.update(llama_cpp.llama_vocab_get_text(vocab, i) or b"")
        h.update(b"\0")
    return f"{llm.n_vocab()}:{h.hexdigest()[:16]}"


def _warm_up(engine: LlamaEngine) -> None:
    """Evaluate one token and forget it, as llama-bench warms up: the first answer's time-to-first-token then
    measures the model, not the first touch of its memory-mapped weights."""
    llm = engine.llama
    llm.reset()
    llm.eval([max(llm.token_bos(), 0)])
    llm._ctx.kv_cache_clear()
    llm.reset()


def _tokens_and_offsets(engine: LlamaEngine, text: str) -> tuple[list[int], list[int]]:
    if not text:
        return [], []
    llm = engine.llama
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
    offsets, prefix = [], b""
    for t in ids:
        offsets.append(min(len(prefix.decode("utf-8", "ignore")), len(text)))
        prefix += llm.detokenize([t])
    return ids, offsets


class Compare:
    """Two models, one conversation each, the same prompts and sampler: see the module docstring."""

    def __init__(
        self,
        path_a: ModelRef | str | Path,
        path_b: ModelRef | str | Path,
        *,
        sampler: SamplerSettings | None = None,
        load_options: LoadOptions | None = None,
        concurrent: bool = False,
        available_bytes: int | None = None,
        on_event: OnEvent | None = None,
        endpoints: Sequence[Endpoint] = (),
    ) -> None:
        try:
            self.refs = {s: ModelRef.parse(p) for s, p in zip(SIDES, (path_a, path_b), strict=True)}
        except ValueError as exc:  # an empty name
            raise EngineError(f"Nothing to compare: {exc}") from None
        self.remote = {s: ref.is_remote for s, ref in self.refs.items()}
        self.engines: dict[str, LlamaEngine | OpenAIEngine] = {}
        # engine_process off: llama.cpp in this process, whose vocabulary and logits a comparison reads
        settings = Config(endpoints=tuple(endpoints))
        for side, ref in self.refs.items():
            if not ref.is_remote:
                check_gguf_file(ref.path)
            engine = make_engine(ref, settings)
            assert isinstance(engine, LlamaEngine | OpenAIEngine)
            self.engines[side] = engine
        self.sampler = sampler or SamplerSettings.greedy()
        self.options = load_options or LoadOptions()
        self.on_event = on_event or (lambda side, kind, payload: None)
        self.memory = plan_memory(self.refs["a"], self.refs["b"], self.options, available_bytes)
        self.notes: list[str] = []
        if not self.memory.both_fit:
            self.mode = SWAP
            if concurrent:
                self.notes.append("concurrent run not possible: " + self.memory.reason)
        else:
            self.mode = CONCURRENT if concurrent else SEQUENTIAL
        self.histories: dict[str, list[ChatMessage]] = {s: [] for s in SIDES}
        self.vocab: dict[str, str] = {}
        self.turns = 0
        self.last: CompareResult | None = None

    # -- conversation --------------------------------------------------------------------------------
    def run(self, messages: Sequence[ChatMessage], cancel: threading.Event | None = None) -> CompareResult:
        """Start a new conversation on both sides with `messages` (system and/or user messages)."""
        if not messages:
            raise EngineError("Nothing to compare: the prompt is empty")
        self.histories = {s: [] for s in SIDES}
        self.turns = 0
        return self._turn(list(messages), cancel or threading.Event())

    def follow_up(self, text: str, cancel: threading.Event | None = None) -> CompareResult:
        """Continue both conversations with one more user message (each side keeps its own answers)."""
        if not text.strip():
            raise EngineError("Nothing to compare: the prompt is empty")
        return self._turn([ChatMessage("user", text)], cancel or threading.Event())

    def _turn(self, new: list[ChatMessage], cancel: threading.Event) -> CompareResult:
        seed = self.sampler.seed if self.sampler.seed >= 0 else int.from_bytes(os.urandom(4), "little") >> 1
        sampler = replace(self.sampler, seed=seed)
        convo = {s: [*self.histories[s], *new] for s in SIDES}
        results: dict[str, SideResult] = {}
        if self.mode == CONCURRENT:
            loaded = {s: self._ensure_loaded(s) for s in SIDES}
            errors: list[BaseException] = []

            def work(side: str) -> None:
                try:
                    results[side] = self._generate(side, convo[side], sampler, cancel, loaded[side])
                except BaseException as exc:  # re-raised in the caller's thread below
                    errors.append(exc)

            threads = [threading.Thread(target=work, args=(s,), name=f"compare-{s}", daemon=True) for s in SIDES]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise errors[0]
        else:
            for side in SIDES:
                if cancel.is_set():
                    results[side] = self._skipped(side)
                    continue
                loaded = self._ensure_loaded(side)
                try:
                    results[side] = self._generate(side, convo[side], sampler, cancel, loaded)
                finally:
                    if self.mode == SWAP:
                        self.engines[side].unload()
        a, b = results["a"], results["b"]
        cancelled = cancel.is_set() or any(r.stats.stop_reason is StopReason.CANCELLED for r in (a, b))
        failed = any(r.stats.error for r in (a, b))
        notes = list(self.notes)
        agreement = None
        if any(self.remote.values()):
            notes.append(NO_REMOTE_VOCAB)
        elif a.vocab and b.vocab and a.vocab != b.vocab:
            notes.append("A and B do not share a vocabulary: token agreement is not measured")
        elif not cancelled:
            agreement = Agreement.of(a, b, greedy=sampler.temperature <= 0 or sampler.top_k == 1)
        turn = self.turns + 1
        if not cancelled and not failed:  # only a complete turn enters the histories
            for side, r in results.items():
                self.histories[side] = [*convo[side], ChatMessage("assistant", r.answer)]
            self.turns = turn
        else:
            notes.append("this turn was not added to the conversations (cancelled or failed)")
        self.last = CompareResult(turn, new, a, b, agreement, self.mode, self.memory, sampler, cancelled,
                                  None, notes)  # fmt: skip
        return self.last

    # -- one side ------------------------------------------------------------------------------------
    def _ensure_loaded(self, side: str) -> bool:
        """Load `side` if it is not loaded; True when it was loaded now."""
        engine = self.engines[side]
        if engine.info is not None:
            return False
        ref = self.refs[side]
        self.on_event(side, "loading", {"path": str(ref)})
        info = engine.load(ref if ref.is_remote else ref.path, self.options)
        if not isinstance(engine, LlamaEngine):  # remote: no vocabulary to read, nothing to warm up here
            self.on_event(side, "loaded", info)
            return True
        with engine.lock:
            if side not in self.vocab:
                self.vocab[side] = _vocab_fingerprint(engine)
            _warm_up(engine)
        self.on_event(side, "loaded", info)
        return True

    def _generate(self, side: str, messages: list[ChatMessage], sampler: SamplerSettings,
                  cancel: threading.Event, loaded_now: bool) -> SideResult:  # fmt: skip
        engine = self.engines[side]
        info = engine.info
        assert info is not None
        gen = engine.stream_chat(messages, sampler, cancel)
        for chunk in gen:
            self.on_event(side, "chunk", chunk)
        text = gen.text
        ids: list[int] = []
        offsets: list[int] = []
        if isinstance(engine, LlamaEngine):
            with engine.lock:
                ids, offsets = _tokens_and_offsets(engine, text)
        result = SideResult(side, str(self.refs[side]), info.name, info.quant, text,
                            SpeedRecord.build(info, gen.stats, loaded_now), gen.stats, ids, offsets,
                            self.vocab.get(side, ""))  # fmt: skip
        self.on_event(side, "finished", result)
        return result

    def _skipped(self, side: str) -> SideResult:
        stats = GenerationStats(stop_reason=StopReason.CANCELLED, note="not run: the comparison was cancelled")
        ref = self.refs[side]
        name = ref.name if ref.is_remote else ref.path.stem
        result = SideResult(side, str(ref), name, "", "", SpeedRecord(), stats)
        self.on_event(side, "finished", result)
        return result

    # -- quality -------------------------------------------------------------------------------------
    def measure_quality(self, text: str, n_ctx: int = 512, cancel: threading.Event | None = None,
                        progress: Callable[[int, int], None] | None = None) -> QualityReport:  # fmt: skip
        """KL divergence etc. of B against A on `text` (quality.py); reuses the loaded engines when both fit.

        The report is also attached to the last turn's result, if there is one. Both sides must be local."""
        if any(self.remote.values()):
            raise EngineError(NO_REMOTE_LOGITS)
        if self.mode == SWAP:
            q = Quality(
                self.refs["a"].path,
                self.refs["b"].path,
                n_ctx=n_ctx,
                n_threads=self.options.n_threads,
                n_batch=self.options.n_batch,
                n_gpu_layers=self.options.n_gpu_layers,
                both_loaded=False,
            )
            report = q.run(text, cancel=cancel, progress=progress)
        else:
            for side in SIDES:
                self._ensure_loaded(side)
            q = Quality(self.refs["a"].path, self.refs["b"].path, n_ctx=n_ctx)
            engines = (self.engines["a"], self.engines["b"])
            assert isinstance(engines[0], LlamaEngine) and isinstance(engines[1], LlamaEngine)
            report = q.run(text, cancel=cancel, progress=progress, engines=engines)
        if self.last is not None:
            self.last.quality = report
        return report

    def close(self) -> None:
        for engine in self.engines.values():
            engine.unload()

    def __enter__(self) -> Compare:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
