"""What an OpenAI-compatible server streams is untrusted: any JSON in an SSE event, any figure of any type, never
turns an answer into a traceback or a hang; a figure of the wrong type is left out and the answer kept."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgetui.config import Endpoint
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.engines.remote_stream import StreamTally
from edgetui.core.types import ChatMessage, GenerationStats, SamplerSettings, StopReason
from tests.fake_openai_server import FakeOpenAIServer

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
KEYS = st.sampled_from(["choices", "usage", "timings", "error", "prompt_eval_count", "eval_count", "eval_duration",
                        "prompt_eval_duration", "delta", "content", "finish_reason", "index", "prompt_n", "cache_n",
                        "prompt_ms", "prompt_per_second", "predicted_n", "predicted_per_second", "completion_tokens",
                        "prompt_tokens", "message"])  # fmt: skip
EVENT = st.recursive(
    JSON, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=5), max_leaves=16
)


@given(st.lists(EVENT, max_size=6))
@settings(max_examples=200, deadline=None)
def test_any_events_are_tallied_without_raising(events: list) -> None:
    tally = StreamTally()
    for obj in events:
        text, error = tally.absorb(obj)
        assert isinstance(text, str) and isinstance(error, str)
        tally.n_chunks += bool(text)
    stats = GenerationStats(stop_reason=StopReason.EOS)
    tally.fill(stats, 0.0, 1.0)
    assert stats.gen_tokens >= 0 and stats.prompt_tokens >= 0 and stats.prompt_tps >= 0


def test_a_wrong_type_in_the_server_s_figures_keeps_the_answer() -> None:
    tally = StreamTally()
    tally.absorb({"choices": [{"index": 0, "delta": {"content": "Paris."}, "finish_reason": "stop"}]})
    tally.n_chunks = 1
    tally.absorb({"timings": {"prompt_n": "x", "prompt_ms": None, "predicted_per_second": [], "cache_n": True},
                  "usage": {"prompt_tokens": "many", "completion_tokens": -3}})  # fmt: skip
    stats = GenerationStats(stop_reason=StopReason.EOS)
    tally.fill(stats, 0.0, 1.0)
    assert (stats.prompt_eval_tokens, stats.prompt_tokens, stats.gen_tokens) == (0, 0, 1)


@pytest.fixture(scope="module")
def raw_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(mode="raw") as server:
        yield server


def _answer(server: FakeOpenAIServer) -> tuple[str, GenerationStats]:
    engine = OpenAIEngine(Endpoint(name="fuzz", base_url=f"{server.url}/v1", model="fake-model", timeout_s=10))
    engine.load()
    gen = engine.stream_chat([ChatMessage("user", "hi")], SamplerSettings(max_tokens=8))
    text = "".join(chunk.text for chunk in gen)
    return text, gen.stats


def test_bad_figures_through_a_real_stream_leave_a_complete_answer() -> None:
    event = {"choices": [{"index": 0, "delta": {"content": "Paris."}, "finish_reason": "stop"}],
             "timings": {"prompt_n": "x", "predicted_n": "y"}}  # fmt: skip
    with FakeOpenAIServer(mode="raw", raw_events=[json.dumps(event), "[DONE]"]) as server:
        text, stats = _answer(server)
    assert text == "Paris." and stats.stop_reason is StopReason.EOS and stats.error is None


@given(st.lists(EVENT.map(json.dumps) | st.text(max_size=20).filter(lambda t: "\n" not in t and "\r" not in t),
                max_size=5))  # fmt: skip
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_stream_ends_as_an_answer_or_one_error_never_a_traceback(raw_server, payloads: list[str]) -> None:
    raw_server.raw_events = payloads
    text, stats = _answer(raw_server)
    assert isinstance(text, str)
    assert stats.stop_reason in (StopReason.EOS, StopReason.LENGTH, StopReason.ERROR)
    if stats.stop_reason is StopReason.ERROR:
        assert stats.error and "\n" not in stats.error and "Traceback" not in stats.error
