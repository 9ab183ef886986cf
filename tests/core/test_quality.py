"""Quality loss of B against A (llama-perplexity --kl-divergence figures) on the real default model."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgetui.core.compare.quality import BOTH, ONE_AT_A_TIME, Quality, QualityCancelled, check_same_vocab
from edgetui.core.compare.quality_report import CompactLogProbs, compare_logits, log_softmax
from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.types import EngineError, LoadOptions

# About 150 tokens of plain English: two chunks of N_CTX tokens (62 scored positions).
TEXT = (
    "The river rose every spring and fell every summer, and the farmers wrote down each flood in the covers "
    "of their account books: the day the water came, the day it left, and the mark it reached on the mill "
    "wall. When the railway engineers arrived they trusted their maps instead, and built the station low. "
    "The next spring the water stayed for eleven days, and the first train stopped a mile short of the "
    "platform. In the summer the engineers came back and asked to see the books, and they built the new "
    "station on the hill above the mill, where it still stands. The farmers never said that they had told "
    "them so, at least not in public, but the children of the valley still learn to read the marks on the wall."
)
N_CTX = 64


@pytest.fixture
def progress_log() -> list[tuple[int, int]]:
    return []


@pytest.mark.engine
def test_a_model_against_itself_loses_nothing(default_model: Path, progress_log: list) -> None:
    q = Quality(default_model, default_model, n_ctx=N_CTX, n_threads=2, both_loaded=True)
    r = q.run(TEXT, progress=lambda done, total: progress_log.append((done, total)))
    assert r.mode == BOTH and r.complete
    assert r.n_chunks == 2 and r.n_ctx == N_CTX
    assert r.scored == 2 * (N_CTX - 1 - N_CTX // 2)
    assert abs(r.kl_mean) < 1e-6 and abs(r.kl_max) < 1e-6
    assert r.top1_agree == 1.0
    assert r.ppl_ratio == pytest.approx(1.0, abs=1e-9)
    assert r.ppl_a == pytest.approx(r.ppl_b) and r.ppl_a > 1
    assert r.rms_dp < 1e-6
    done = [d for d, _ in progress_log]
    assert done == sorted(done) and progress_log[-1] == (2 * 2 * N_CTX, 2 * 2 * N_CTX)


@pytest.mark.engine
def test_q2_k_diverges_more_than_q8_0(default_model: Path, quantized_models: dict[str, Path]) -> None:
    engines = {}
    try:
        for name, path in (("ref", default_model), *quantized_models.items()):
            engines[name] = LlamaEngine()
            engines[name].load(path, LoadOptions(n_ctx=N_CTX, n_threads=2, n_batch=N_CTX))
        reports = {}
        for name in ("Q8_0", "Q2_K"):
            q = Quality(default_model, quantized_models[name], n_ctx=N_CTX)
            reports[name] = q.run(TEXT, engines=(engines["ref"], engines[name]))
    finally:
        for e in engines.values():
            e.unload()
    q8, q2 = reports["Q8_0"], reports["Q2_K"]
    assert 0 < q8.kl_mean < q2.kl_mean
    assert q2.top1_agree < q8.top1_agree <= 1.0
    assert q2.rms_dp > q8.rms_dp > 0
    assert q2.ppl_ratio > q8.ppl_ratio
    assert q8.ppl_a == pytest.approx(q2.ppl_a)  # the same reference on the same tokens
    assert q2.kl_max >= q2.kl_p99 >= q2.kl_median >= 0


@pytest.mark.engine
def test_one_model_at_a_time_when_memory_is_short(default_model: Path) -> None:
    r = Quality(default_model, default_model, n_ctx=N_CTX, n_threads=2, available_bytes=1).run(TEXT)
    assert r.mode == ONE_AT_A_TIME
    assert any("one model at a time" in n and "not enough memory" in n for n in r.notes)
    assert any("16-bit" in n for n in r.notes)
    # A's distribution went through llama.cpp's 16-bit storage: a tiny floor instead of an exact 0.
    assert 0 <= r.kl_mean < 1e-4
    assert r.top1_agree == 1.0
    assert r.ppl_ratio == pytest.approx(1.0, abs=1e-6)


@pytest.mark.engine
def test_cancel_stops_the_measurement(default_model: Path) -> None:
    cancel = threading.Event()
    q = Quality(default_model, default_model, n_ctx=N_CTX, n_threads=2, both_loaded=True)
    with pytest.raises(QualityCancelled, match="cancelled") as info:
        q.run(TEXT, cancel=cancel, progress=lambda done, total: cancel.set())
    assert info.value.partial is None  # cancelled inside the first chunk: nothing complete to report


@pytest.mark.engine
def test_bad_input_gives_user_errors(default_model: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="too short"):
        Quality(default_model, default_model, n_ctx=N_CTX, both_loaded=True).run("Hello there.")
    with pytest.raises(EngineError, match="empty"):
        Quality(default_model, default_model).run("   ")
    with pytest.raises(EngineError, match="not found"):
        Quality(default_model, tmp_path / "missing.gguf").run(TEXT)


def _stub_engine(n_vocab: int, tokens: list[int]) -> SimpleNamespace:
    llama = SimpleNamespace(n_vocab=lambda: n_vocab, tokenize=lambda text, add_bos, special: list(tokens))
    return SimpleNamespace(llama=llama, lock=threading.Lock())


def test_different_vocabularies_are_refused() -> None:
    a = _stub_engine(49152, [1, 2, 3])
    check_same_vocab(a, _stub_engine(49152, [1, 2, 3]), [1, 2, 3], "text")
    with pytest.raises(EngineError, match="A and B do not share a vocabulary"):
        check_same_vocab(a, _stub_engine(32000, [1, 2, 3]), [1, 2, 3], "text")
    with pytest.raises(EngineError, match="A and B do not share a vocabulary"):
        check_same_vocab(a, _stub_engine(49152, [1, 2, 4]), [1, 2, 3], "text")


def test_compact_storage_matches_the_exact_figures() -> None:
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((32, 1000)) * 4).astype(np.float32)
    b = a + (rng.standard_normal(a.shape) * 0.3).astype(np.float32)
    targets = rng.integers(0, 1000, 32)
    assert np.allclose(np.exp(log_softmax(a)).sum(axis=1), 1.0, atol=1e-5)
    kl, nll_a, nll_b, same = compare_logits(a, b, targets)
    ckl, cnll_a, cnll_b, csame = CompactLogProbs.from_logits(a, targets).compare(b, targets)
    assert np.all(kl > 0)
    assert np.allclose(ckl, kl, atol=2e-3)
    assert np.allclose(cnll_a, nll_a, atol=1e-4) and np.allclose(cnll_b, nll_b)
    assert csame == same
    self_kl = compare_logits(a, a, targets)[0]
    assert np.all(self_kl == 0)
    assert np.all(np.abs(CompactLogProbs.from_logits(a, targets).compare(a, targets)[0]) < 1e-3)
