"""llama-bench inside the app: prompt processing (ppN) and generation (tgN) speed, measured the way llama-bench does."""

from __future__ import annotations

import ctypes
import math
import random
import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgetui.core.engines.llama_thread import LlamaThread
from edgetui.core.types import EngineError
from edgetui.core.units import format_bytes

# progress(message, runs done, runs in all): called before each run (warm-ups included) and once at the end.
Progress = Callable[[str, int, int], None]

_TEST_RE = re.compile(r"^(?:pp(\d+))?(?:\+?tg(\d+))?$")


class BenchError(EngineError):
    """A benchmark could not run; the message is written for the user."""


@dataclass(frozen=True)
class BenchTest:
    """One llama-bench test: `n_prompt` tokens in batches, then `n_gen` tokens one at a time."""

    n_prompt: int = 0
    n_gen: int = 0

    @property
    def name(self) -> str:
        if self.n_prompt and self.n_gen:
            return f"pp{self.n_prompt}+tg{self.n_gen}"
        return f"pp{self.n_prompt}" if self.n_prompt else f"tg{self.n_gen}"

    @classmethod
    def parse(cls, spec: str) -> BenchTest:
        """'pp512', 'tg128' or 'pp512+tg128' (llama-bench's -pg)."""
        m = _TEST_RE.match(spec.strip().lower())
        if not m or not (m.group(1) or m.group(2)):
            raise BenchError(f"Unknown benchmark test {spec!r}: use ppN, tgN or ppN+tgM (e.g. pp512, tg128)")
        test = cls(int(m.group(1) or 0), int(m.group(2) or 0))
        if test.n_prompt + test.n_gen <= 0:
            raise BenchError(f"Benchmark test {spec!r} has no tokens to process")
        return test


@dataclass(frozen=True)
class BenchResult:
    """One row of llama-bench's table, with the per-repetition figures behind it."""

    model: str  # llama.cpp's own description, as llama-bench prints it: "llama 256M Q4_1"
    size: int  # bytes of weights
    params: int
    backend: str  # "CPU", "CUDA", ...
    threads: int
    n_gpu_layers: int
    test: str  # "pp512", "tg128", "pp512+tg128"
    tps_mean: float
    tps_std: float
    samples: tuple[float, ...]  # tokens/s of each repetition
    samples_ns: tuple[int, ...] = ()
    n_prompt: int = 0
    n_gen: int = 0
    n_batch: int = 2048
    n_ubatch: int = 512
    flash_attn: str = "auto"
    model_path: str = ""
    model_name: str = ""  # general.name from the GGUF metadata
    engine: str = ""  # "llama-cpp-python 0.3.36"
    timestamp: float = field(default_factory=time.time)

    @property
    def tps(self) -> str:
        return f"{self.tps_mean:.2f} ± {self.tps_std:.2f}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["samples"] = list(self.samples)
        d["samples_ns"] = list(self.samples_ns)
        return d


def engine_version() -> str:
    """'llama-cpp-python X.Y.Z'."""
    import llama_cpp

    return f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')}"


def backend_name() -> str:
    """llama-bench's backend column: the non-CPU ggml backends compiled in ('CUDA', 'Metal', ...) or 'CPU'."""
    import llama_cpp

    try:
        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    except Exception:
        info = ""
    # "CPU : SSE3 = 1 | AVX = 1 | ... CUDA : ARCHS = 890 | ..." -> the names before " : "
    names = [n for n in re.findall(r"(?:^|\|\s*)([A-Za-z][\w-]*) : ", info) if n != "CPU" and not n.startswith("RPC")]
    if names:
        return ",".join(dict.fromkeys(names))
    try:
        return "GPU" if llama_cpp.llama_supports_gpu_offload() else "CPU"
    except Exception:
        return "CPU"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for fewer than two values), as llama-bench computes them."""
    if not values:
        return 0.0, 0.0
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def run_bench(
    model_path: str | Path,
    n_threads: int = 2,
    n_gpu_layers: int = 0,
    tests: Sequence[str | BenchTest] = ("pp512", "tg128"),
    reps: int = 5,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    warmup: bool = True,
    seed: int = 0,
    llama: Any = None,
) -> list[BenchResult]:
    """Benchmark a GGUF model like llama-bench; returns one BenchResult per test that completed.

    For each test a fresh context of n_prompt + n_gen tokens is made (flash attention 'auto', as llama-bench);
    a warm-up run (the whole prompt, one generated token) precedes `reps` timed repetitions, each on an empty
    KV cache. Random tokens are decoded with llama_decode and no sampling. `llama` may be an already loaded
    `llama_cpp.Llama` of `model_path` (its weights are shared, its own context is not touched; the caller must
    keep other users off it meanwhile); n_gpu_layers is then the one it was loaded with.
    When `cancel` is set the current test stops and the results of the tests already done are returned.
    """
    parsed = [t if isinstance(t, BenchTest) else BenchTest.parse(t) for t in tests]
    if not parsed:
        raise BenchError("No benchmark test given")
    if reps < 1:
        raise BenchError(f"The number of repetitions must be at least 1, not {reps}")
    if n_threads < 1:
        raise BenchError(f"The number of threads must be at least 1, not {n_threads}")
    if n_batch < 1 or n_ubatch < 1:
        raise BenchError("The batch sizes must be at least 1")
    cancel = cancel or threading.Event()
    path = Path(model_path).expanduser()
    return LlamaThread.shared().call(
        _bench, path, parsed, n_threads, n_gpu_layers, reps, progress, cancel, n_batch, n_ubatch, warmup, seed, llama
    )


def _bench(
    path: Path,
    parsed: list[BenchTest],
    n_threads: int,
    n_gpu_layers: int,
    reps: int,
    progress: Progress | None,
    cancel: threading.Event,
    n_batch: int,
    n_ubatch: int,
    warmup: bool,
    seed: int,
    llama: Any,
) -> list[BenchResult]:
    """run_bench's work, on the llama thread (see edgetui.core.engines.llama_thread)."""
    owned = llama is None
    if owned:
        llama = _load(path, n_threads, n_gpu_layers)
    else:  # report what the model was loaded with
        n_gpu_layers = int(getattr(getattr(llama, "model_params", None), "n_gpu_layers", n_gpu_layers))
    try:
        opts = _Options(n_threads, n_gpu_layers, reps, n_batch, n_ubatch, warmup, seed, progress, cancel)
        return _Runner(llama, path, opts).run(parsed)
    finally:
        if owned:
            try:
                llama.close()
            except Exception:
                pass


@dataclass(frozen=True)
class _Options:
    threads: int
    n_gpu_layers: int
    reps: int
    n_batch: int
    n_ubatch: int
    warmup: bool
    seed: int
    progress: Progress | None
    cancel: threading.Event


def _load(path: Path, n_threads: int, n_gpu_layers: int) -> Any:
    from edgetui.core.engines.llama import LlamaLog
    from edgetui.core.gguf.files import check_gguf_file

    check_gguf_file(path)
    log = LlamaLog.install()
    import llama_cpp

    try:
        # The Llama's own context is kept tiny: every test makes a context of its own, as llama-bench does.
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=32,
            n_batch=32,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=n_gpu_layers,
            verbose=False,
        )
    except (ValueError, RuntimeError, OSError) as exc:
        reason = log.reason()
        detail = f": {reason}" if reason else " (the file may be corrupt, truncated or unsupported)"
        raise BenchError(f"llama.cpp could not load {path.name}{detail}") from exc


class _Runner:
    """The measuring loop, on raw llama.cpp contexts made from the Llama's model."""

    def __init__(self, llama: Any, path: Path, opts: _Options) -> None:
        import llama_cpp

        self.lc = llama_cpp
        self.model = llama.model
        self.n_threads, self.reps, self.n_batch, self.n_ubatch = opts.threads, opts.reps, opts.n_batch, opts.n_ubatch
        self.warmup, self.progress, self.cancel = opts.warmup, opts.progress, opts.cancel
        self.rng = random.Random(opts.seed)
        vocab = llama_cpp.llama_model_get_vocab(self.model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(vocab)) if llama_cpp.llama_vocab_get_add_bos(vocab) else None
        buf = ctypes.create_string_buffer(256)
        llama_cpp.llama_model_desc(self.model, buf, ctypes.sizeof(buf))
        meta = getattr(llama, "metadata", None) or {}
        self.common = dict(
            model=buf.value.decode("utf-8", "replace"),
            size=int(llama_cpp.llama_model_size(self.model)),
            params=int(llama_cpp.llama_model_n_params(self.model)),
            backend=backend_name(),
            threads=opts.threads,
            n_gpu_layers=opts.n_gpu_layers,
            n_batch=opts.n_batch,
            n_ubatch=opts.n_ubatch,
            model_path=str(path),
            model_name=str(meta.get("general.name") or path.stem),
            engine=engine_version(),
        )
        self.done = 0
        self.total = 0

    def _tick(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message, self.done, self.total)
        self.done += 1

    def run(self, tests: list[BenchTest]) -> list[BenchResult]:
        runs_per_test = self.reps + (1 if self.warmup else 0)
        self.total = runs_per_test * len(tests)
        results = []
        for test in tests:
            if self.cancel.is_set():
                break
            result = self._run_test(test)
            if result is None:  # cancelled
                break
            results.append(result)
        if self.progress is not None:
            self.progress("cancelled" if self.cancel.is_set() else "done", self.done, self.total)
        return results

    def _run_test(self, test: BenchTest) -> BenchResult | None:
        lc = self.lc
        params = lc.llama_context_default_params()
        params.n_ctx = test.n_prompt + test.n_gen
        params.n_batch = self.n_batch
        params.n_ubatch = self.n_ubatch
        params.n_threads = params.n_threads_batch = self.n_threads
        params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_AUTO
        params.no_perf = True
        ctx = lc.llama_init_from_model(self.model, params)
        if not ctx:
            raise BenchError(f"llama.cpp could not make a context of {params.n_ctx} tokens for {test.name}")
        try:
            lc.llama_set_n_threads(ctx, self.n_threads, self.n_threads)
            memory = lc.llama_get_memory(ctx)
            lc.llama_memory_clear(memory, False)
            if self.warmup:
                self._tick(f"{test.name}: warm-up")
                if test.n_prompt and not self._decode_prompt(ctx, self._tokens(test.n_prompt)):
                    return None
                if test.n_gen and not self._decode_gen(ctx, self._tokens(1)):
                    return None
            samples_ns = []
            for rep in range(self.reps):
                self._tick(f"{test.name}: run {rep + 1}/{self.reps}")
                lc.llama_memory_clear(memory, False)
                prompt = self._tokens(test.n_prompt) if test.n_prompt else None
                gen = self._tokens(test.n_gen) if test.n_gen else None
                t0 = time.perf_counter_ns()
                if prompt is not None and not self._decode_prompt(ctx, prompt):
                    return None
                if gen is not None and not self._decode_gen(ctx, gen):
                    return None
                samples_ns.append(time.perf_counter_ns() - t0)
        finally:
            lc.llama_free(ctx)
        n_tokens = test.n_prompt + test.n_gen
        samples = tuple(1e9 * n_tokens / ns for ns in samples_ns)
        mean, std = mean_std(samples)
        return BenchResult(
            **self.common,
            test=test.name,
            tps_mean=mean,
            tps_std=std,
            samples=samples,
            samples_ns=tuple(samples_ns),
            n_prompt=test.n_prompt,
            n_gen=test.n_gen,
            flash_attn="auto",
        )

    # -- the two kinds of work, as llama-bench's test_prompt and test_gen ------------------------------
    def _tokens(self, n: int) -> list[int]:
        """n random token ids (llama-bench: std::rand() % n_vocab), the first one BOS when the model adds it."""
        rand = self.rng.randrange
        tokens = [rand(self.n_vocab) for _ in range(n)]
        if self.bos is not None and tokens:
            tokens[0] = self.bos
        return tokens

    def _decode_prompt(self, ctx: Any, tokens: list[int]) -> bool:
        """Decode `tokens` in batches of n_batch (positions follow on from the KV cache); False when cancelled."""
        lc = self.lc
        step = self.n_batch
        for start in range(0, len(tokens), step):
            if self.cancel.is_set():
                return False
            part = tokens[start : start + step]
            arr = (lc.llama_token * len(part))(*part)
            self._check(lc.llama_decode(ctx, lc.llama_batch_get_one(arr, len(part))), "prompt")
        lc.llama_synchronize(ctx)
        return True

    def _decode_gen(self, ctx: Any, tokens: list[int]) -> bool:
        """Decode one token at a time (the logits of each are computed, none is sampled); False when cancelled."""
        lc = self.lc
        one = (lc.llama_token * 1)()
        decode, get_one, sync, cancelled = (
            lc.llama_decode,
            lc.llama_batch_get_one,
            lc.llama_synchronize,
            self.cancel.is_set,
        )
        for token in tokens:
            if cancelled():
                return False
            one[0] = token
            rc = decode(ctx, get_one(one, 1))
            if rc != 0:
                self._check(rc, "generation")
            sync(ctx)
        return True

    @staticmethod
    def _check(rc: int, what: str) -> None:
        if rc != 0:
            raise BenchError(f"llama.cpp failed to decode a {what} batch (code {rc})")


def format_params(n: int) -> str:
    """llama-bench's params column: millions below 1e9, billions above."""
    return f"{n / 1e6:.2f} M" if n < 1e9 else f"{n / 1e9:.2f} B"


def markdown_table(results: Sequence[BenchResult]) -> str:
    """The results as llama-bench prints them (text columns left-aligned, numbers right-aligned)."""
    header = ("model", "size", "params", "backend", "threads", "ngl", "test", "t/s")
    rows = [
        (
            r.model,
            format_bytes(r.size),
            format_params(r.params),
            r.backend,
            str(r.threads),
            str(r.n_gpu_layers),
            r.test,
            r.tps if math.isfinite(r.tps_mean) else "n/a",
        )
        for r in results
    ]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(header)]
    left = (True, False, False, True, False, False, False, False)

    def line(cells: Sequence[str]) -> str:
        padded = (c.ljust(w) if lf else c.rjust(w) for c, w, lf in zip(cells, widths, left, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if lf else "-" * (w - 1) + ":" for w, lf in zip(widths, left, strict=True)]
    return "\n".join([line(header), line(rule)] + [line(row) for row in rows])
