"""OpenAIEngine against a scripted local OpenAI-compatible server: streaming, stats, errors, keys, cancel."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator

import pytest

from edgetui.config import Endpoint
from edgetui.core.engines.llama import Engine
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.engines.remote_stream import estimate_tokens, guess_quant
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import ChatMessage, EngineError, SamplerSettings, StopReason
from tests.fake_openai_server import FakeOpenAIServer

HI = [ChatMessage("user", "Say hello")]
SECRET = "sk-test-5ecr3t-do-not-leak"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.fixture
def fake(server: FakeOpenAIServer) -> FakeOpenAIServer:
    server.reset("ok")
    return server


def make(fake: FakeOpenAIServer, mode: str = "ok", load: bool = True, **kw: object) -> OpenAIEngine:
    fake.reset(mode)
    engine = OpenAIEngine(Endpoint(name="fake", base_url=f"{fake.url}/v1", **kw))  # type: ignore[arg-type]
    if load:
        engine.load()
    return engine


def chat(engine: OpenAIEngine, sampler: SamplerSettings | None = None):
    gen = engine.stream_chat(HI, sampler or SamplerSettings(max_tokens=16))
    chunks = list(gen)
    return gen, chunks


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- loading -----------------------------------------------------------------------------------------------
def test_engine_protocol_and_load_picks_the_first_model(fake: FakeOpenAIServer) -> None:
    engine = make(fake, load=False)
    assert isinstance(engine, Engine)
    assert engine.info is None
    info = engine.load()
    assert info.engine == "openai" and info.backend == "remote"
    assert engine.model == "fake-model" and info.name == "fake-model"
    assert info.n_ctx == 0  # the plain server does not tell its context size
    assert info.path == "openai:fake/fake-model" == str(ModelRef.remote("fake", "fake-model"))
    assert ModelRef.parse(info.path) == ModelRef.remote("fake", "fake-model")
    assert fake.requests[0].path == "/v1/models"


def test_load_a_named_model_reads_llama_server_props(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "llama", model="other-model-Q4_K_M")
    assert engine.info is not None and engine.info.quant == "Q4_K_M" and engine.info.n_ctx == 4096
    info = make(fake, "llama").info
    assert info is not None and (info.n_ctx, info.n_ctx_train, info.n_params) == (4096, 8192, 134515008)
    # a ModelRef, its text, or a plain model id name the model; '' is the endpoint's own
    engine = OpenAIEngine(Endpoint(name="fake", base_url=f"{fake.url}/v1"))
    assert engine.load(ModelRef.remote("fake", "fake-model")).name == "fake-model"
    assert engine.load("openai:fake/fake-model").name == "fake-model"
    assert engine.load("fake-model").name == "fake-model"
    assert engine.load(ModelRef.remote("fake")).name == "fake-model"  # the server's first


def test_load_refuses_another_endpoint_s_model_or_a_file(fake: FakeOpenAIServer) -> None:
    engine = make(fake, load=False)
    with pytest.raises(EngineError, match="openai:other/m is not a model of the endpoint 'fake'"):
        engine.load(ModelRef.remote("other", "m"))
    with pytest.raises(EngineError, match="is not a model of the endpoint 'fake'"):
        engine.load(ModelRef.local("/models/x.gguf"))


def test_base_url_without_v1_and_unknown_model(fake: FakeOpenAIServer) -> None:
    fake.reset("ok")
    engine = OpenAIEngine(Endpoint(name="fake", base_url=fake.url + "/"))
    assert engine.load().name == "fake-model"
    engine = OpenAIEngine(Endpoint(name="fake", base_url=fake.url, model="no-such-model"))
    with pytest.raises(EngineError, match="has no model 'no-such-model'; it serves fake-model"):
        engine.load()
    with pytest.raises(EngineError, match="no base_url"):
        OpenAIEngine(Endpoint(name="empty", base_url=""))


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("401", r"refused the request \(HTTP 401: Invalid API key\); check the API key in \$FAKE_KEY"),
        ("403", r"HTTP 403.*check the API key in \$FAKE_KEY \(\$FAKE_KEY is not set\)"),
        ("500", r"fake failed with a server error \(HTTP 500: the fake server crashed\)"),
    ],
)
def test_load_http_errors(fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, mode: str, message: str) -> None:
    if mode == "401":
        monkeypatch.setenv("FAKE_KEY", "wrong")
    else:
        monkeypatch.delenv("FAKE_KEY", raising=False)
    with pytest.raises(EngineError, match=message):
        make(fake, mode, api_key_env="FAKE_KEY")


def test_load_without_key_env_says_how_to_set_one(fake: FakeOpenAIServer) -> None:
    with pytest.raises(EngineError, match="set api_key_env of endpoint 'fake' in config.toml"):
        make(fake, "401")


def test_load_connection_refused() -> None:
    port = closed_port()
    engine = OpenAIEngine(Endpoint(name="gone", base_url=f"http://127.0.0.1:{port}/v1"))
    with pytest.raises(EngineError, match=rf"Cannot connect to http://127.0.0.1:{port}: connection refused"):
        engine.load()


def test_load_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_host(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    engine = OpenAIEngine(Endpoint(name="box", base_url="http://gpu-box.invalid:8080/v1"))
    with pytest.raises(EngineError, match=r"Cannot find the host gpu-box.invalid \(DNS lookup failed\)"):
        engine.load()


def test_load_timeout(fake: FakeOpenAIServer) -> None:
    fake.slow_s = 2.0
    with pytest.raises(EngineError, match=r"did not answer within 0.3 s \(timeout_s of endpoint 'fake'\)"):
        make(fake, "slow", timeout_s=0.3)


# -- streaming -----------------------------------------------------------------------------------------
def test_stream_text_and_client_side_stats(fake: FakeOpenAIServer) -> None:
    engine = make(fake)
    gen, chunks = chat(engine)
    assert gen.text == "Hello, world!"
    assert [c.text for c in chunks] == fake.chunks
    assert all(a.t <= b.t for a, b in zip(chunks, chunks[1:], strict=False))
    s = gen.stats
    assert s.stop_reason is StopReason.EOS and s.error is None
    assert s.gen_tokens == 4 and s.prompt_tokens == 9  # from the usage chunk (stream_options.include_usage)
    assert 0 < s.ttft_s <= s.total_s
    assert s.gen_tps > 0
    assert s.engine_timings["usage"]["completion_tokens"] == 4


def test_finish_reason_length(fake: FakeOpenAIServer) -> None:
    engine = make(fake)
    fake.finish = "length"
    gen, _ = chat(engine)
    assert gen.stats.stop_reason is StopReason.LENGTH


def test_sampler_is_mapped_to_the_request(fake: FakeOpenAIServer) -> None:
    engine = make(fake)
    sampler = SamplerSettings(
        temperature=0.3, top_p=0.8, top_k=7, min_p=0.1, repeat_penalty=1.2, seed=42, max_tokens=33
    )
    chat(engine, sampler)
    body = fake.requests[-1].body
    assert body["model"] == "fake-model" and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.3, 0.8, 33, 42)
    assert (body["top_k"], body["min_p"], body["repeat_penalty"]) == (7, 0.1, 1.2)
    assert body["stream_options"] == {"include_usage": True}
    chat(engine, SamplerSettings(seed=-1, max_tokens=0))
    assert "seed" not in fake.requests[-1].body and "max_tokens" not in fake.requests[-1].body


def test_strict_server_is_asked_again_without_the_extra_fields(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "strict")
    gen, _ = chat(engine)
    assert gen.text == "Hello, world!" and gen.stats.stop_reason is StopReason.EOS
    first, second = (r.body for r in fake.requests if r.path == "/v1/chat/completions")
    assert "top_k" in first and "top_k" not in second and "stream_options" not in second
    assert gen.stats.gen_tokens == 4  # counted from the chunks: no usage without stream_options


def test_llama_server_timings_give_prompt_speed(fake: FakeOpenAIServer) -> None:
    gen, _ = chat(make(fake, "llama"))
    s = gen.stats
    assert s.engine_timings["server"] == "llama-server"
    assert s.engine_timings["prompt_per_second"] == 500.0 and s.engine_timings["eval_tps"] == 100.0
    assert s.prompt_tps == 500.0 and s.prompt_eval_tokens == 10
    assert s.gen_tokens == 4


def test_ollama_eval_fields_give_prompt_speed(fake: FakeOpenAIServer) -> None:
    gen, _ = chat(make(fake, "ollama"))
    s = gen.stats
    assert s.engine_timings["server"] == "ollama" and s.engine_timings["eval_count"] == 4
    assert s.prompt_eval_tokens == 12
    assert s.prompt_tps == pytest.approx(12 / 0.024)
    assert s.engine_timings["eval_tps"] == pytest.approx(4 / 0.08)


def test_non_streamed_answer_is_accepted(fake: FakeOpenAIServer) -> None:
    gen, chunks = chat(make(fake, "json"))
    assert gen.text == "Hello, world!" and len(chunks) == 1
    assert gen.stats.stop_reason is StopReason.EOS and gen.stats.gen_tokens == 4


# -- errors while answering -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("404model", r"fake has no model 'fake-model' \(HTTP 404: model 'fake-model' not found\)"),
        ("500", r"fake failed with a server error \(HTTP 500"),
        ("401", r"HTTP 401.*check the API key in \$FAKE_KEY"),
    ],
)
def test_stream_http_errors(fake: FakeOpenAIServer, mode: str, message: str) -> None:
    engine = make(fake, api_key_env="FAKE_KEY")
    fake.reset(mode)
    gen, chunks = chat(engine)
    assert chunks == [] and gen.stats.stop_reason is StopReason.ERROR
    assert gen.stats.error is not None and "\n" not in gen.stats.error
    assert re.search(message, gen.stats.error), gen.stats.error


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("disconnect", "The connection to fake broke in the middle of the answer"),
        ("eof", "fake closed the connection before the answer was complete; the text so far is kept"),
        ("slow_mid", "fake sent nothing for 0.5 s in the middle of the answer (timeout); the text so far is kept"),
        ("sse_error", "fake reported an error: the fake GPU ran out of memory"),
    ],
)
def test_a_server_failing_mid_answer_keeps_the_partial_text(fake: FakeOpenAIServer, mode: str, message: str) -> None:
    fake.slow_s = 2.0
    engine = make(fake, timeout_s=0.5)
    fake.reset(mode)
    gen, _ = chat(engine)
    assert gen.stats.stop_reason is StopReason.ERROR
    assert gen.stats.error is not None and message in gen.stats.error and "\n" not in gen.stats.error
    assert gen.text == ("Hello" if mode == "sse_error" else "Hello,")
    assert gen.stats.gen_tokens == len(gen.text_parts)


def test_a_break_after_finish_reason_is_a_normal_end(fake: FakeOpenAIServer) -> None:
    gen, _ = chat(make(fake, "drop_after_finish"))
    assert gen.text == "Hello, world!" and gen.stats.stop_reason is StopReason.EOS and gen.stats.error is None


def test_server_gone_before_the_answer(fake: FakeOpenAIServer) -> None:
    engine = make(fake)
    engine.api = f"http://127.0.0.1:{closed_port()}/v1"  # the server went away after load()
    gen, _ = chat(engine)
    assert gen.stats.stop_reason is StopReason.ERROR
    assert gen.stats.error is not None and "connection refused; is the server running?" in gen.stats.error


def test_no_model_loaded(fake: FakeOpenAIServer) -> None:
    engine = make(fake, load=False)
    with pytest.raises(EngineError, match="No model is loaded"):
        engine.stream_chat(HI, SamplerSettings())
    with pytest.raises(EngineError, match="No model is loaded"):
        engine.count_tokens(HI)


# -- cancel ---------------------------------------------------------------------------------------------
def test_cancel_stops_the_stream_early(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "trickle")
    cancel = threading.Event()
    gen = engine.stream_chat(HI, SamplerSettings(), cancel)
    for i, _ in enumerate(gen):
        if i == 2:
            cancel.set()
    assert gen.stats.stop_reason is StopReason.CANCELLED
    assert len(gen.text_parts) == 3 < fake.trickle_n
    assert gen.stats.error is None


def test_cancel_while_the_server_has_not_answered_yet(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "hang")
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    gen = engine.stream_chat(HI, SamplerSettings(), cancel)
    assert gen.run() == ""
    assert gen.stats.stop_reason is StopReason.CANCELLED
    assert not fake.release.is_set()  # the answer ended while the server was still silent
    fake.release.set()


def test_closing_the_generation_counts_as_cancelled(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "trickle")
    gen = engine.stream_chat(HI, SamplerSettings())
    next(gen)
    gen.close()
    assert gen.stats.stop_reason is StopReason.CANCELLED and gen.text == " 0"


# -- API key ----------------------------------------------------------------------------------------------
def test_api_key_is_sent_and_never_kept(fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", SECRET)
    engine = make(fake, "llama", api_key_env="FAKE_KEY")
    gen, _ = chat(engine)
    engine.count_tokens(HI)
    assert fake.requests and all(r.headers.get("Authorization") == f"Bearer {SECRET}" for r in fake.requests)
    fake.reset("401")
    failed, _ = chat(engine)
    with pytest.raises(EngineError) as exc_info:
        engine.load()
    seen = [
        repr(engine),
        str(vars(engine)),
        repr(engine.info),
        repr(engine.endpoint),
        repr(gen.stats),
        str(gen.stats.as_dict()),
        str(failed.stats.as_dict()),
        str(exc_info.value),
    ]
    assert all(SECRET not in text for text in seen)
    assert "check the API key in $FAKE_KEY" in str(exc_info.value)


def test_no_authorization_header_without_a_key(fake: FakeOpenAIServer) -> None:
    chat(make(fake))
    assert all("Authorization" not in r.headers for r in fake.requests)


def test_an_echoed_key_is_masked(fake: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "Invalid")  # the fake's 401 message contains it
    with pytest.raises(EngineError) as exc_info:
        make(fake, "401", api_key_env="FAKE_KEY")
    assert "Invalid" not in str(exc_info.value) and "*** API key" in str(exc_info.value)


# -- token counts -----------------------------------------------------------------------------------------
def test_count_tokens_through_llama_server(fake: FakeOpenAIServer) -> None:
    engine = make(fake, "llama")
    msgs = [ChatMessage("system", "be brief"), ChatMessage("user", "one two three")]
    # the fake's template: "<|system|>be brief <|user|>one two three " -> 5 whitespace-separated tokens
    assert engine.count_tokens(msgs) == 5
    paths = [r.path for r in fake.requests]
    assert "/apply-template" in paths and "/tokenize" in paths


def test_count_tokens_estimate_without_a_tokenizer(fake: FakeOpenAIServer) -> None:
    engine = make(fake)
    msgs = [ChatMessage("user", "x" * 40)]
    assert engine.count_tokens(msgs) == estimate_tokens(msgs) == 10 + 4
    asked = len(fake.requests)
    engine.count_tokens(msgs)
    assert len(fake.requests) == asked  # the missing tokenizer is remembered


def test_guess_quant() -> None:
    assert guess_quant("SmolLM2-135M-Instruct.Q4_1.gguf") == "Q4_1"
    assert guess_quant("llama3.2:3b-instruct-q4_K_M") == "Q4_K_M"
    assert guess_quant("gpt-4o-mini") == ""
