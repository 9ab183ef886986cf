"""QualityReport, and the statistics behind it: log-softmax, KL divergence, llama.cpp's 16-bit log-probs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


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
class QualityStats:
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
