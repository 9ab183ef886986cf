"""The records of a side-by-side comparison: memory plan, speed, answers, token agreement, one turn's result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgetui.core.compare.quality_report import QualityReport
from edgetui.core.types import ChatMessage, GenerationStats, ModelInfo, SamplerSettings

# figures a remote side does not have (no local file or process): None in CompareResult.deltas, shown as "–"
LOCAL_ONLY_FIELDS = ("file_size_bytes", "bits_per_weight", "rss_delta_bytes")
SPEED_FIELDS = ("file_size_bytes", "bits_per_weight", "load_s", "rss_delta_bytes", "ttft_s", "prompt_tps",
                "gen_tps", "gen_tokens")  # fmt: skip


@dataclass
class MemoryPlan:
    """Whether A and B can be loaded together; RAM (and VRAM) needs as predicted, in bytes."""

    both_fit: bool
    need_a: int
    need_b: int
    available: int
    vram_need_a: int = 0
    vram_need_b: int = 0
    vram_free: int = 0
    method: str = "fit estimate"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SpeedRecord:
    """Size, load and speed of one side for one turn."""

    file_size_bytes: int = 0
    bits_per_weight: float = 0.0
    n_params: int = 0
    load_s: float = 0.0
    rss_delta_bytes: int = 0
    loaded_this_turn: bool = False
    ttft_s: float = 0.0
    prompt_tokens: int = 0
    prompt_eval_tokens: int = 0
    prompt_tps: float = 0.0
    gen_tps: float = 0.0
    gen_tokens: int = 0
    total_s: float = 0.0
    remote: bool = False  # a remote endpoint: LOCAL_ONLY_FIELDS stay 0 and mean "not known"

    @classmethod
    def build(cls, info: ModelInfo, stats: GenerationStats, loaded_this_turn: bool) -> SpeedRecord:
        """From the engine's ModelInfo and the answer's stats; a remote model has no file: size, bpw, RSS 0."""
        if info.backend == "remote":
            size, bpw = 0, 0.0
        else:
            size = info.path.stat().st_size if info.path.is_file() else info.size_bytes
            bpw = info.size_bytes * 8 / info.n_params if info.n_params else 0.0
        return cls(size, round(bpw, 3), info.n_params, info.load_s, info.rss_delta_bytes, loaded_this_turn,
                   stats.ttft_s, stats.prompt_tokens, stats.prompt_eval_tokens, stats.prompt_tps, stats.gen_tps,
                   stats.gen_tokens, stats.total_s, info.backend == "remote")  # fmt: skip


@dataclass
class SideResult:
    """One side's answer for one turn, with its speed record and its tokens (ids and character offsets)."""

    side: str
    path: str
    name: str
    quant: str
    answer: str
    speed: SpeedRecord
    stats: GenerationStats
    token_ids: list[int] = field(default_factory=list)
    token_offsets: list[int] = field(default_factory=list)  # character offset of each token in `answer`
    vocab: str = ""  # fingerprint: n_vocab and a hash of every token's text

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stats"] = self.stats.as_dict()
        return d


@dataclass
class Agreement:
    """Token agreement of B's answer with A's; `identical_share` is position-wise over the longer answer."""

    greedy: bool
    tokens_a: int
    tokens_b: int
    identical_tokens: int
    identical_share: float
    first_divergence: int | None  # token index where B departs from A; None = identical answers
    char_offset_a: int | None  # where that token starts in A's answer (for highlighting)
    char_offset_b: int | None

    @classmethod
    def of(cls, a: SideResult, b: SideResult, greedy: bool) -> Agreement:
        ta, tb = a.token_ids, b.token_ids
        same = sum(1 for x, y in zip(ta, tb, strict=False) if x == y)
        n = max(len(ta), len(tb))
        first = next((i for i, (x, y) in enumerate(zip(ta, tb, strict=False)) if x != y), None)
        if first is None and len(ta) != len(tb):
            first = min(len(ta), len(tb))

        def offset(s: SideResult) -> int | None:
            if first is None:
                return None
            return s.token_offsets[first] if first < len(s.token_offsets) else len(s.answer)

        return cls(greedy, len(ta), len(tb), same, same / n if n else 1.0, first, offset(a), offset(b))


@dataclass
class CompareResult:
    """One turn through both models: JSON-able with `to_dict()`."""

    turn: int
    messages: list[ChatMessage]  # what this turn added (the prompt)
    a: SideResult
    b: SideResult
    agreement: Agreement | None
    memory_mode: str
    memory: MemoryPlan
    sampler: SamplerSettings
    cancelled: bool = False
    quality: QualityReport | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def deltas(self) -> dict[str, dict[str, float | None]]:
        """B vs A for each speed figure: {"a", "b", "diff" (b - a), "ratio" (b / a, None when a is 0)};
        a remote side's LOCAL_ONLY_FIELDS are None (and so are their diff and ratio)."""
        out: dict[str, dict[str, float | None]] = {}
        for name in SPEED_FIELDS:
            va, vb = (None if s.remote and name in LOCAL_ONLY_FIELDS else getattr(s, name)
                      for s in (self.a.speed, self.b.speed))  # fmt: skip
            if va is None or vb is None:
                out[name] = {"a": va, "b": vb, "diff": None, "ratio": None}
            else:
                out[name] = {"a": va, "b": vb, "diff": vb - va, "ratio": (vb / va) if va else None}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.turn, "messages": [m.as_dict() for m in self.messages],
            "a": self.a.to_dict(), "b": self.b.to_dict(), "deltas": self.deltas,
            "agreement": asdict(self.agreement) if self.agreement else None,
            "memory_mode": self.memory_mode, "memory": self.memory.to_dict(), "sampler": self.sampler.as_dict(),
            "cancelled": self.cancelled, "quality": self.quality.to_dict() if self.quality else None,
            "notes": list(self.notes),
        }  # fmt: skip


def compare_to_record(result: CompareResult | QualityReport) -> dict[str, Any]:
    """Keyword arguments for `Store.add_comparison(model_a=, model_b=, prompt=, result=)`."""
    if isinstance(result, QualityReport):
        return {"model_a": result.path_a, "model_b": result.path_b, "prompt": "", "result": result.to_dict()}
    prompt = "\n\n".join(m.content for m in result.messages if m.role == "user")
    return {"model_a": result.a.path, "model_b": result.b.path, "prompt": prompt, "result": result.to_dict()}
