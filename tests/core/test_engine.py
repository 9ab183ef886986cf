"""The llama.cpp engine on the real default model: streaming, stats, cancel, bad files, template fallback."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edgetui.core.engines.llama import AHEAD, Engine, LlamaEngine
from edgetui.core.types import ChatMessage, EngineError, LoadOptions, SamplerSettings, StopReason

pytestmark = pytest.mark.engine

HELLO = [ChatMessage("user", "Say hello in one short sentence.")]


def test_streams_real_tokens_with_stats(shared_engine: LlamaEngine) -> None:
    assert isinstance(shared_engine, Engine)
    gen = shared_engine.stream_chat(HELLO, SamplerSettings.greedy(max_tokens=24))
    chunks = list(gen)
    assert len(chunks) >= 2
    assert all(c.text for c in chunks)
    assert [c.t for c in chunks] == sorted(c.t for c in chunks)
    text = gen.text
    assert text.strip()
    stats = gen.stats
    assert stats.stop_reason in (StopReason.EOS, StopReason.LENGTH)
    assert stats.prompt_tokens > 5
    assert stats.gen_tokens >= len(chunks) - 1
    assert stats.ttft_s > 0 and stats.total_s >= stats.ttft_s
    assert stats.prompt_tps > 0 and stats.gen_tps > 0
    assert stats.engine_timings["n_eval"] > 0


def test_greedy_is_deterministic(shared_engine: LlamaEngine) -> None:
    a = shared_engine.stream_chat(HELLO, SamplerSettings.greedy(max_tokens=16)).run()
    b = shared_engine.stream_chat(HELLO, SamplerSettings.greedy(max_tokens=16)).run()
    assert a == b


def test_length_stop_reason(shared_engine: LlamaEngine) -> None:
    gen = shared_engine.stream_chat([ChatMessage("user", "Count from 1 to 100.")], SamplerSettings.greedy(8))
    gen.run()
    assert gen.stats.stop_reason is StopReason.LENGTH
    assert gen.stats.gen_tokens <= 8


def test_cancel_stops_within_one_token(shared_engine: LlamaEngine) -> None:
    cancel = threading.Event()
    gen = shared_engine.stream_chat([ChatMessage("user", "Count from 1 to 200.")], SamplerSettings.greedy(300), cancel)
    seen = 0  # tokens (a chunk carries the tokens made in 1/25 s)
    for chunk in gen:
        seen += chunk.tokens
        if seen >= 3:
            cancel.set()
    # the chunk that crossed 3 holds at most AHEAD tokens, and what was made ahead after it still arrives: nothing
    # made is lost
    assert 3 <= seen <= 3 + 2 * AHEAD
    assert gen.stats.stop_reason is StopReason.CANCELLED
    assert gen.stats.engine_timings["n_eval"] <= seen + 1  # nothing decoded past the token that carried the cancel


def test_conversation_too_long_is_reported(shared_engine: LlamaEngine) -> None:
    huge = [ChatMessage("user", "word " * 5000)]
    gen = shared_engine.stream_chat(huge, SamplerSettings.greedy(8))
    assert gen.run() == ""
    assert gen.stats.stop_reason is StopReason.ERROR
    assert "context window" in (gen.stats.error or "")


def _bad_file(kind: str, d: Path) -> Path:
    path = d / f"{kind}.gguf"
    if kind == "dir":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello world")
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [("missing", "not found"), ("dir", "is a directory"), ("empty", "empty"), ("text", "not a GGUF file")],
)
def test_bad_files_give_clear_errors(tmp_path: Path, kind: str, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        LlamaEngine().load(_bad_file(kind, tmp_path), LoadOptions(n_ctx=256, n_threads=1))


def test_truncated_gguf_is_refused_by_llama_cpp(tmp_path: Path, default_model: Path) -> None:
    truncated = tmp_path / "truncated.gguf"
    with default_model.open("rb") as f:
        truncated.write_bytes(f.read(default_model.stat().st_size // 2))
    engine = LlamaEngine()
    with pytest.raises(EngineError, match="could not load truncated.gguf"):
        engine.load(truncated, LoadOptions(n_ctx=256, n_threads=1))
    assert engine.info is None


def test_model_without_chat_template_falls_back_and_says_so(no_template_model: Path) -> None:
    engine = LlamaEngine()
    info = engine.load(no_template_model, LoadOptions(n_ctx=512, n_threads=2))
    try:
        assert info.chat_template == "chatml"  # SmolLM2's vocabulary has <|im_start|>
        note = info.chat_template_note
        assert "its GGUF file has no chat template" in note and "chatml" in note
        assert note.count("chat template") == 2  # the reason, once
        text = engine.stream_chat(HELLO, SamplerSettings.greedy(16)).run()
        assert text.strip()
    finally:
        engine.unload()


def test_load_reports_model_info(shared_engine: LlamaEngine, default_model: Path) -> None:
    info = shared_engine.info
    assert info is not None
    assert info.path == default_model
    assert info.quant == "Q4_1"
    assert info.n_params > 100_000_000
    assert info.n_ctx == 2048 and info.n_ctx_train == 8192
    assert info.chat_template == "gguf" and not info.chat_template_note


def test_count_tokens_grows_with_the_conversation(shared_engine: LlamaEngine) -> None:
    one = shared_engine.count_tokens(HELLO)
    two = shared_engine.count_tokens([*HELLO, ChatMessage("assistant", "Hello there!"), *HELLO])
    assert 5 < one < two
