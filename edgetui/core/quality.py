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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgetui.core.engine import LlamaEngine, LlamaLog, check_gguf_file
from edgetui.core.types import EngineError, LoadOptions

Progress = Callable[[int, int], None]  # (tokens evaluated so far, tokens to evaluate in all)
MIN_CHUNK = 16
BOTH, ONE_AT_A_TIME = "both loaded", "one at a time"


class QualityCancelled(EngineError):
    """The measurement was cancelled; `partial` holds the figures over the chunks finished (or None)."""

    def __init__(self, partial: QualityReport | None = None) -> None:
        super().__init__("The quality measurement was cancelled")
        self.partial = partial


@dataclass
class QualityReport:
    """Perplexity of A and B, KL(A||B) and token statistics; shares and probabilities are fractions 0..1."""

    path_a: str
    path_b: str
    n_ctx: int  # chunk size
    n_chunks: int
    text_tokens: int
    scored: int  # positions scored (n_chunks * (n_ctx - 1 - n_ctx/2))
    ppl_a: float
    ppl_b: float
    ppl_ratio: float  # ppl_b / ppl_a = exp(mean(nll_b - nll_a)), "Mean PPL(Q)/PPL(base)"
    ln_ppl_ratio: float
    kl_mean: float
    kl_stderr: float
    kl_median: float
    kl_p90: float
    kl_p99: float
    kl_max: float
    top1_agree: float  # "Same top p"
    rms_dp: float  # "RMS Δp"
    mean_dp: float
    max_abs_dp: float
    mode: str  # BOTH or ONE_AT_A_TIME
    elapsed_s: float = 0.0
    complete: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Stats:
    """Per-position figures collected chunk by chunk (a few numbers per token, never a vocabulary row)."""

    kl: list[np.ndarray] = field(default_factory=list)
    nll_a: list[np.ndarray] = field(default_factory=list)
    nll_b: list[np.ndarray] = field(default_factory=list)
    dp: list[np.ndarray] = field(default_factory=list)
    same_top: int = 0
    chunks: int = 0

    def add(self, kl: np.ndarray, nll_a: np.ndarray, nll_b: np.ndarray, same_top: int) -> None:
        self.kl.append(kl)
        self.nll_a.append(nll_a)
        self.nll_b.append(nll_b)
        self.dp.append(np.exp(-nll_b) - np.exp(-nll_a))
        self.same_top += same_top
        self.chunks += 1

    def report(self, **kw: Any) -> QualityReport | None:
        if not self.kl:
            return None
        kl, dp = np.concatenate(self.kl), np.concatenate(self.dp)
        nll_a, nll_b = np.concatenate(self.nll_a), np.concatenate(self.nll_b)
        n = len(kl)
        ln_ratio = float(np.mean(nll_b - nll_a))
        q50, q90, q99 = (float(v) for v in np.quantile(kl, [0.5, 0.9, 0.99]))
        return QualityReport(
            n_chunks=self.chunks, scored=n,
            ppl_a=float(np.exp(nll_a.mean())), ppl_b=float(np.exp(nll_b.mean())),
            ppl_ratio=float(np.exp(ln_ratio)), ln_ppl_ratio=ln_ratio,
            kl_mean=float(kl.mean()), kl_stderr=float(kl.std(ddof=1) / np.sqrt(n)) if n > 1 else 0.0,
            kl_median=q50, kl_p90=q90, kl_p99=q99, kl_max=float(kl.max()),
            top1_agree=self.same_top / n, rms_dp=float(np.sqrt(np.mean(dp * dp))),
            mean_dp=float(dp.mean()), max_abs_dp=float(np.abs(dp).max()), **kw,
        )  # fmt: skip


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float32 with the normaliser summed in float64."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)
    return shifted - lse


def compare_logits(logits_a: np.ndarray, logits_b: np.ndarray, targets: np.ndarray) -> tuple[Any, ...]:
    """(kl, nll_a, nll_b, same_top) of two logit blocks whose rows predict `targets`."""
    la, lb = log_softmax(logits_a), log_softmax(logits_b)
    kl = (np.exp(la) * (la - lb)).sum(axis=1, dtype=np.float64)
    rows = np.arange(len(targets))
    nll_a, nll_b = -la[rows, targets].astype(np.float64), -lb[rows, targets].astype(np.float64)
    same = int(np.count_nonzero(logits_a.argmax(axis=1) == logits_b.argmax(axis=1)))
    return kl, nll_a, nll_b, same


@dataclass
class CompactLogProbs:
    """A chunk of A's log-probabilities stored as llama.cpp stores them, plus exact nll and argmax."""

    q: np.ndarray  # uint16 (rows, n_vocab)
    scale: np.ndarray  # float32 (rows,)
    min_log_prob: np.ndarray  # float32 (rows,)
    nll: np.ndarray  # float64 (rows,) exact
    top: np.ndarray  # int64 (rows,) exact

    @classmethod
    def from_logits(cls, logits: np.ndarray, targets: np.ndarray) -> CompactLogProbs:
        mx = logits.max(axis=1, keepdims=True)
        mn = np.maximum(logits.min(axis=1, keepdims=True), mx - 16)
        lse = np.log(np.exp(logits - mx).sum(axis=1, keepdims=True, dtype=np.float64)).astype(np.float32)
        scale = (mx - mn) / 65535.0
        safe = np.where(scale > 0, scale, 1.0)
        q = np.where(logits > mn, np.rint((logits - mn) / safe), 0.0)
        q = np.clip(q, 0, 65535).astype(np.uint16)
        rows = np.arange(len(targets))
        nll = (mx[:, 0] + lse[:, 0] - logits[rows, targets]).astype(np.float64)
        return cls(q, scale[:, 0].astype(np.float32), (mn - mx - lse)[:, 0].astype(np.float32), nll,
                   logits.argmax(axis=1))  # fmt: skip

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.q, self.scale, self.min_log_prob, self.nll, self.top))

    def compare(self, logits_b: np.ndarray, targets: np.ndarray) -> tuple[Any, ...]:
        """(kl, nll_a, nll_b, same_top) against B's logits; KL over entries with log p_A > -16, as llama.cpp."""
        lb = log_softmax(logits_b)
        la = self.scale[:, None] * self.q + self.min_log_prob[:, None]
        kl = np.where(la > -16.0, np.exp(la) * (la - lb), 0.0).sum(axis=1, dtype=np.float64)
        rows = np.arange(len(targets))
        same = int(np.count_nonzero(self.top == logits_b.argmax(axis=1)))
        return kl, self.nll, -lb[rows, targets].astype(np.float64), same


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
        """Logits (rows: positions first..len-2) of `chunk`, evaluated from an empty KV cache."""
        if self.add_bos and self.bos >= 0:
            chunk = [self.bos, *chunk[1:]]
        n, last = len(chunk), len(chunk) - 1
        out = np.empty((last - first, self.n_vocab), dtype=np.float32)
        row = 0
        with self.engine.lock:
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
        from edgetui.core.compare import plan_memory

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

    def _report(self, stats: _Stats, n_ctx: int, tokens: int, mode: str, t0: float, complete: bool):
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
        stats = _Stats()
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
        self.notes.append(f"A's log-probabilities kept as 16-bit values: {sum(c.nbytes for c in base):,} bytes")
        runner_b, stats = ChunkRunner(eb, n_ctx), _Stats()
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
