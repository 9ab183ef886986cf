"""A scripted Engine for fast UI tests (every feature also has a test through the real engine)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from edgetui.core.engines.llama import Generation
from edgetui.core.types import (
    ChatMessage,
    Chunk,
    EngineError,
    GenerationStats,
    LoadOptions,
    ModelInfo,
    SamplerSettings,
    StopReason,
)


class FakeEngine:
    """Answers with `reply` word by word, `delay` seconds apart; records what it was asked."""

    def __init__(self, reply: str = "Hello from the fake model.", delay: float = 0.0, fail_load: str = "") -> None:
        self.reply = reply
        self.delay = delay
        self.fail_load = fail_load
        self.requests: list[list[ChatMessage]] = []
        self.samplers: list[SamplerSettings] = []
        self._info: ModelInfo | None = None
        self.lock = threading.Lock()

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    def load(self, path: str | Path, options: LoadOptions) -> ModelInfo:
        if self.fail_load:
            raise EngineError(self.fail_load)
        self._info = ModelInfo(
            path=Path(path),
            name=Path(path).stem,
            n_ctx=options.n_ctx,
            quant="Q4_1",
            n_threads=options.n_threads,
        )
        return self._info

    def unload(self) -> None:
        self._info = None

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return sum(len(m.content.split()) + 4 for m in messages)

    def stream_chat(
        self, messages: Sequence[ChatMessage], sampler: SamplerSettings, cancel: threading.Event | None = None
    ) -> Generation:
        self.requests.append(list(messages))
        self.samplers.append(sampler)
        cancel = cancel or threading.Event()

        def produce(stats: GenerationStats) -> Iterator[Chunk]:
            t0 = time.perf_counter()
            words = self.reply.split(" ")
            for i, word in enumerate(words):
                if cancel.is_set():
                    stats.stop_reason = StopReason.CANCELLED
                    break
                if self.delay:
                    time.sleep(self.delay)
                stats.gen_tokens += 1
                yield Chunk(word if i == 0 else f" {word}", time.perf_counter())
            # fixed figures, so that snapshots do not depend on the machine's speed
            stats.total_s = 0.5 if not self.delay else time.perf_counter() - t0
            stats.ttft_s, stats.prompt_tps, stats.gen_tps = 0.05, 500.0, 120.0
            stats.prompt_tokens = stats.prompt_eval_tokens = self.count_tokens(messages)

        return Generation(produce)


class FrozenMetrics:
    """Gauge samples that never change, so snapshots are stable."""

    def sample(self, extra_pids=()):
        from edgetui.core.system.metrics import MetricsSnapshot

        gib = 1024**3
        return MetricsSnapshot(
            timestamp=0.0,
            rss_bytes=210 * 1024**2,
            ram_used=6 * gib,
            ram_total=24 * gib,
            ram_available=18 * gib,
            cpu_percent=12.0,
            cpu_count=2,
        )
