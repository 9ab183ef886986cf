"""ProcessEngine: llama.cpp in a child process, with the real default model (load, stream, cancel, crash)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.process import ProcessEngine
from edgetui.core.types import ChatMessage, EngineError, LoadOptions, SamplerSettings, StopReason

pytestmark = pytest.mark.engine

OPTIONS = LoadOptions(n_ctx=1024, n_threads=2)
ASK = [ChatMessage("user", "Name three colours.")]


@pytest.fixture
def engine(default_model: Path):
    engine = ProcessEngine()
    engine.load(default_model, OPTIONS)
    yield engine
    engine.unload()


def test_streams_the_same_greedy_answer_as_the_in_process_engine(engine: ProcessEngine, shared_engine: LlamaEngine):
    sampler = SamplerSettings.greedy(max_tokens=24, seed=0)
    gen = engine.stream_chat(ASK, sampler)
    chunks = list(gen)
    assert gen.text == shared_engine.stream_chat(ASK, sampler).run()
    assert gen.stats.stop_reason in (StopReason.LENGTH, StopReason.EOS)
    assert gen.stats.gen_tokens == 24 or gen.stats.stop_reason is StopReason.EOS
    assert gen.stats.gen_tps > 0 and gen.stats.prompt_tokens > 0
    assert all(a.t <= b.t for a, b in zip(chunks, chunks[1:], strict=False))  # one monotonic clock for both
    # the runner sends the tokens of each 1/25 s as one chunk, with their count
    assert sum(c.tokens for c in chunks) == sum(c.tokens for c in shared_engine.stream_chat(ASK, sampler))
    assert engine.count_tokens(ASK) == shared_engine.count_tokens(ASK)
    info = engine.info
    assert info is not None and info.name == "SmolLM2-135M-Instruct.Q4_1" and info.n_ctx == 1024


def test_the_model_lives_in_the_child_and_unload_ends_it(engine: ProcessEngine):
    pid = engine.pid
    assert pid is not None and pid != os.getpid()
    child = psutil.Process(pid)
    assert child.ppid() == os.getpid()
    assert any(m.path.endswith(".gguf") for m in child.memory_maps())  # the weights are mapped there
    engine.unload()
    assert engine.info is None and engine.pid is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_cancel_stops_the_answer_in_the_runner(engine: ProcessEngine):
    cancel = threading.Event()
    gen = engine.stream_chat(ASK, SamplerSettings.greedy(max_tokens=400, seed=0), cancel)
    for n, _ in enumerate(gen, 1):
        if n == 3:
            cancel.set()
    assert gen.stats.stop_reason is StopReason.CANCELLED
    assert n < 40
    assert engine.stream_chat(ASK, SamplerSettings.greedy(max_tokens=4, seed=0)).run()  # it answers again


def test_closing_the_stream_early_cancels_and_keeps_the_record(engine: ProcessEngine):
    gen = engine.stream_chat(ASK, SamplerSettings.greedy(max_tokens=400, seed=0))
    next(gen)
    gen.close()
    assert gen.stats.stop_reason is StopReason.CANCELLED
    assert gen.stats.prompt_tokens > 0  # the runner's record came back
    assert engine.count_tokens(ASK) > 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGABRT])
def test_a_runner_that_dies_mid_answer_becomes_a_clear_error(engine: ProcessEngine, sig: int):
    gen = engine.stream_chat(ASK, SamplerSettings.greedy(max_tokens=2000, seed=0))
    next(gen)
    assert engine.pid is not None
    os.kill(engine.pid, sig)
    text = gen.run()
    assert gen.stats.stop_reason is StopReason.ERROR
    assert f"killed ({signal.Signals(sig).name}" in (gen.stats.error or "")
    assert isinstance(text, str)
    deadline = time.monotonic() + 5
    while engine.info is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.info is None  # the app shows "no model" and offers to load again
    with pytest.raises(EngineError, match="killed|not running|No model"):
        engine.count_tokens(ASK)


def test_a_truncated_file_is_reported_by_the_runner(default_model: Path, tmp_path: Path):
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(default_model.read_bytes()[: 1 << 20])
    engine = ProcessEngine()
    with pytest.raises(EngineError, match="truncated.gguf"):
        engine.load(bad, OPTIONS)
    assert engine.info is None and engine.pid is None


def test_a_missing_file_fails_before_a_process_starts(tmp_path: Path):
    engine = ProcessEngine()
    with pytest.raises(EngineError, match="not found"):
        engine.load(tmp_path / "nope.gguf", OPTIONS)
    assert engine.pid is None
