"""Quality loss of model B against model A on a text, as `llama-perplexity --kl-divergence` measures it.

Both models are teacher-forced through the same tokens in chunks of `n_ctx`, exactly as llama-perplexity
does it: the text is tokenised once (with A's vocabulary), cut into `len(tokens) // n_ctx` chunks, the first
token of each chunk is replaced by BOS when the vocabulary adds one, and only the second half of each chunk
is scored (positions n_ctx/2 .. n_ctx-2 predict the token after them), so every scored token has at least
n_ctx/2 tokens of context. Per scored position:

    nll_X   = -log p_X(actual next token)                    -> ppl_X = exp(mean nll_X)
    kl      = sum_v p_A(v) * (log p_A(v) - log p_B(v))         KL(A || B), A being the reference
    top-1   = argmax A == argmax B
    dp      = p_B(actual) - p_A(actual)                        -> "RMS Δp" = sqrt(mean dp^2)

Two memory modes. "both loaded" runs A and B on each chunk in turn and keeps only that chunk's logits
(exact figures; KL of a model against itself is exactly 0). "one at a time" is for machines where the two
models do not fit together: A runs over the whole text first and its log-probabilities are kept the way
llama.cpp stores them in its .kld files (uint16 per vocabulary entry, range clamped to e^-16, plus a scale
and offset per position: ~2 bytes x n_vocab per scored token), then A is unloaded and B is compared against
them. In that mode A's perplexity, top-1 and p(actual) are still exact (kept separately per position); only
the KL uses the 16-bit copy, which adds a floor of about 1e-5 to 1e-4 (llama.cpp's own measurement: 4e-6).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgetui.core.compare.memory import plan_memory
from edgetui.core.compare.quality_report import CompactLogProbs, QualityReport, QualityStats, compare_logits
from edgetui.core.engines.llama import LlamaEngine, LlamaLog
from edgetui.core.engines.llama_thread import LlamaThread
from edgetui.core.gguf.files import check_gguf_file
from edgetui.core.types import EngineError, LoadOptions
from edgetui.core.units import format_bytes

__all__ = ["BOTH", "ONE_AT_A_TIME", "Quality", "QualityCancelled", "QualityReport", "measure_quality"]

Progress = Callable[[int, int], None]  # (tokens evaluated so far, tokens to evaluate in all)
MIN_CHUNK = 16
BOTH, ONE_AT_A_TIME = "both loaded", "one at a time"


class QualityCancelled(EngineError):
    """The measurement was cancelled; `partial` holds the figures over the chunks finished (or None)."""

    def __init__(self, partial: QualityReport | None = None) -> None:
        super().__init__("The quality measurement was cancelled")
        self.partial = partial


class ChunkRunner:
    """Teacher-forces chunks through one loaded engine and returns the logits of the scored positions."""

    def __init__(self, engine: LlamaEngine, n_ctx: int) -> None:
        import llama_cpp
        from llama_cpp import _internals as internals

        self.engine = engine
        llm = engine.llama
        self.n_vocab = llm.n_vocab()
        self.n_batch = max(1, min(llm.n_batch, n_ctx))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab))
        self.bos = llm.token_bos()
        self._batch = internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)

    def logits(self, chunk: list[int], first: int, cancel: threading.Event, done: Callable[[int], None]):
        """Logits (rows: positions first..len-2) of `chunk`, evaluated from an empty KV cache (on the llama thread)."""
        with self.engine.lock:
            return LlamaThread.shared().call(self._logits, chunk, first, cancel, done)

    def _logits(self, chunk: list[int], first: int, cancel: threading.Event, done: Callable[[int], None]):
        if self.add_bos and self.bos >= 0:
            chunk = [self.bos, *chunk[1:]]
        n, last = len(chunk), len(chunk) - 1
        out = np.empty((last - first, self.n_vocab), dtype=np.float32)
        row = 0
        # the caller holds the engine's lock
        llm = self.engine.llama
        llm.reset()
        llm._ctx.kv_cache_clear()
        try:
            for start in range(0, n, self.n_batch):
                if cancel.is_set():
                    return None
                part = chunk[start : start + self.n_batch]
                b = self._batch.batch
                n_out = 0
                for k, tok in enumerate(part):
                    pos = start + k
                    b.token[k], b.pos[k], b.n_seq_id[k] = tok, pos, 1
                    b.seq_id[k][0] = 0
                    want = first <= pos < last
                    b.logits[k] = want
                    n_out += want
                b.n_tokens = len(part)
                try:
                    llm._ctx.decode(self._batch)
                except RuntimeError as exc:
                    raise EngineError(f"llama.cpp failed to evaluate the text: {exc}") from exc
                if n_out:
                    got = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_out * self.n_vocab,))
                    out[row : row + n_out] = got.reshape(n_out, self.n_vocab)
                    row += n_out
                done(len(part))
        finally:
            llm._ctx.kv_cache_clear()  # the chat path must not reuse this KV cache as a prompt prefix
            llm.reset()
        return out


def tokenize_text(engine: LlamaEngine, text: str) -> list[int]:
    """`text` as llama-perplexity tokenises it (BOS only when the vocabulary adds one)."""
    with engine.lock:
        return engine.llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)


def check_same_vocab(engine_a: LlamaEngine, engine_b: LlamaEngine, tokens_a: list[int], text: str) -> None:
    na, nb = engine_a.llama.n_vocab(), engine_b.llama.n_vocab()
    if na != nb or tokenize_text(engine_b, text) != tokens_a:
        detail = f"{na} vs {nb} tokens" if na != nb else "they tokenise the text differently"
        raise EngineError(f"A and B do not share a vocabulary ({detail}): KL divergence needs the same one")


class Quality:
    """Measures B's quality loss against A on a text; see the module docstring for the method."""

    def __init__(
        self,
        path_a: str | Path,
        path_b: str | Path,
        *,
        n_ctx: int = 512,
        n_threads: int = 2,
        n_batch: int = 512,
        n_gpu_layers: int = 0,
        both_loaded: bool | None = None,
        available_bytes: int | None = None,
    ) -> None:
        """both_loaded None = decide from the memory estimate (`available_bytes` overrides free RAM)."""
        self.path_a, self.path_b = Path(path_a).expanduser(), Path(path_b).expanduser()
        self.n_ctx, self.n_threads, self.n_batch, self.n_gpu_layers = n_ctx, n_threads, n_batch, n_gpu_layers
        self.both_loaded = both_loaded
        self.available_bytes = available_bytes
        self.notes: list[str] = []

    def _options(self, n_ctx: int) -> LoadOptions:
        return LoadOptions(n_ctx=n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers,
                           n_batch=min(self.n_batch, n_ctx))  # fmt: skip

    def _decide_both(self, n_ctx: int) -> bool:
        if self.both_loaded is not None:
            return self.both_loaded
        plan = plan_memory(self.path_a, self.path_b, self._options(n_ctx), self.available_bytes, quality=True)
        if not plan.both_fit:
            self.notes.append(f"one model at a time: {plan.reason}")
        return plan.both_fit

    def run(
        self,
        text: str,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
        engines: tuple[LlamaEngine, LlamaEngine] | None = None,
    ) -> QualityReport:
        """Measure on `text`. With `engines` (A and B already loaded, e.g. by Compare) they are reused."""
        cancel = cancel or threading.Event()
        t0 = time.perf_counter()
        self.notes = []
        for p in (self.path_a, self.path_b):
            check_gguf_file(p)
        if not text.strip():
            raise EngineError("The text to measure on is empty")
        LlamaLog.install()
        own: list[LlamaEngine] = []
        try:
            if engines is not None:
                return self._run_both(text, engines, cancel, progress, t0)
            n_ctx = self.n_ctx
            if self._decide_both(n_ctx):
                ea, eb = LlamaEngine(), LlamaEngine()
                own += [ea, eb]
                ea.load(self.path_a, self._options(n_ctx))
                eb.load(self.path_b, self._options(n_ctx))
                return self._run_both(text, (ea, eb), cancel, progress, t0)
            return self._run_one_at_a_time(text, cancel, progress, t0, own)
        finally:
            for e in own:
                e.unload()

    def _plan_chunks(self, tokens: list[int], engine_ctx: int) -> tuple[int, int]:
        n_ctx = min(self.n_ctx, engine_ctx)
        if len(tokens) < n_ctx:
            if len(tokens) < MIN_CHUNK:
                raise EngineError(
                    f"The text is too short: {len(tokens)} tokens; at least {MIN_CHUNK} are needed "
                    f"(and {2 * self.n_ctx} or more for a steady figure)"
                )
            shrunk = len(tokens) - len(tokens) % 2
            self.notes.append(f"the text has only {len(tokens)} tokens: chunk size reduced to {shrunk}")
            n_ctx = shrunk
        return n_ctx, len(tokens) // n_ctx

    def _report(self, stats: QualityStats, n_ctx: int, tokens: int, mode: str, t0: float, complete: bool):
        return stats.report(path_a=str(self.path_a), path_b=str(self.path_b), n_ctx=n_ctx, text_tokens=tokens,
                            mode=mode, elapsed_s=time.perf_counter() - t0, complete=complete,
                            notes=list(self.notes))  # fmt: skip

    def _run_both(self, text, engines, cancel, progress, t0) -> QualityReport:
        ea, eb = engines
        tokens = tokenize_text(ea, text)
        check_same_vocab(ea, eb, tokens, text)
        n_ctx, n_chunks = self._plan_chunks(tokens, min(ea.llama.n_ctx(), eb.llama.n_ctx()))
        first = n_ctx // 2
        ra, rb = ChunkRunner(ea, n_ctx), ChunkRunner(eb, n_ctx)
        total, done = 2 * n_chunks * n_ctx, [0]
        tick = _ticker(done, total, progress)
        stats = QualityStats()
        for i in range(n_chunks):
            chunk = tokens[i * n_ctx : (i + 1) * n_ctx]
            la = ra.logits(chunk, first, cancel, tick)
            lb = rb.logits(chunk, first, cancel, tick) if la is not None else None
            if la is None or lb is None:
                raise QualityCancelled(self._report(stats, n_ctx, len(tokens), BOTH, t0, False))
            stats.add(*compare_logits(la, lb, np.asarray(chunk[first + 1 :])))
        report = self._report(stats, n_ctx, len(tokens), BOTH, t0, True)
        assert report is not None
        return report

    def _run_one_at_a_time(self, text, cancel, progress, t0, own: list[LlamaEngine]) -> QualityReport:
        ea = LlamaEngine()
        own.append(ea)
        ea.load(self.path_a, self._options(self.n_ctx))
        tokens = tokenize_text(ea, text)
        n_vocab_a = ea.llama.n_vocab()
        n_ctx, n_chunks = self._plan_chunks(tokens, ea.llama.n_ctx())
        first = n_ctx // 2
        total, done = 2 * n_chunks * n_ctx, [0]
        tick = _ticker(done, total, progress)
        runner = ChunkRunner(ea, n_ctx)
        base: collections.deque[CompactLogProbs] = collections.deque()
        for i in range(n_chunks):
            chunk = tokens[i * n_ctx : (i + 1) * n_ctx]
            logits = runner.logits(chunk, first, cancel, tick)
            if logits is None:
                raise QualityCancelled(None)
            base.append(CompactLogProbs.from_logits(logits, np.asarray(chunk[first + 1 :])))
            del logits
        ea.unload()
        eb = LlamaEngine()
        own.append(eb)
        eb.load(self.path_b, self._options(n_ctx))
        nb = eb.llama.n_vocab()
        if nb != n_vocab_a or tokenize_text(eb, text) != tokens:
            detail = f"{n_vocab_a} vs {nb} tokens" if nb != n_vocab_a else "they tokenise the text differently"
            raise EngineError(f"A and B do not share a vocabulary ({detail}): KL divergence needs the same one")
        self.notes.append(f"A's log-probabilities kept as 16-bit values: {format_bytes(sum(c.nbytes for c in base))}")
        runner_b, stats = ChunkRunner(eb, n_ctx), QualityStats()
        for i in range(n_chunks):
            chunk = tokens[i * n_ctx : (i + 1) * n_ctx]
            lb = runner_b.logits(chunk, first, cancel, tick)
            if lb is None:
                raise QualityCancelled(self._report(stats, n_ctx, len(tokens), ONE_AT_A_TIME, t0, False))
            stats.add(*base.popleft().compare(lb, np.asarray(chunk[first + 1 :])))  # A's copy freed as used
        report = self._report(stats, n_ctx, len(tokens), ONE_AT_A_TIME, t0, True)
        assert report is not None
        return report


def _ticker(done: list[int], total: int, progress: Progress | None) -> Callable[[int], None]:
    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    return tick


def measure_quality(path_a: str | Path, path_b: str | Path, text: str, *, cancel: threading.Event | None = None,
                    progress: Progress | None = None, **options: Any) -> QualityReport:  # fmt: skip
    """One-call form of `Quality(path_a, path_b, **options).run(text, cancel, progress)`."""
    return Quality(path_a, path_b, **options).run(text, cancel=cancel, progress=progress)
