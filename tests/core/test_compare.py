"""Side-by-side comparison on the real default model: streaming, agreement, memory plan, follow-ups, CLI."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from edgetui.cli import main
from edgetui.config import Endpoint
from edgetui.core.compare.compare import CONCURRENT, SEQUENTIAL, SWAP, Compare
from edgetui.core.compare.memory import plan_memory
from edgetui.core.compare.records import Agreement, SideResult, SpeedRecord, compare_to_record
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import ChatMessage, EngineError, GenerationStats, LoadOptions, SamplerSettings
from tests.core.test_quality import N_CTX, TEXT
from tests.fake_openai_server import FakeOpenAIServer

PROMPT = [ChatMessage("user", "Name three colours.")]
OPTIONS = LoadOptions(n_ctx=512, n_threads=2)


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, str, object]] = []
        self.lock = threading.Lock()

    def __call__(self, side: str, kind: str, payload: object) -> None:
        with self.lock:
            self.items.append((side, kind, payload))

    def kinds(self, side: str) -> list[str]:
        return [k for s, k, _ in self.items if s == side]

    def text(self, side: str) -> str:
        return "".join(p.text for s, k, p in self.items if s == side and k == "chunk")  # type: ignore[attr-defined]


@pytest.mark.engine
def test_greedy_a_against_itself_streams_both_sides_and_agrees(default_model: Path, tmp_path: Path) -> None:
    events = Events()
    with Compare(default_model, default_model, sampler=SamplerSettings.greedy(max_tokens=12),
                 load_options=OPTIONS, on_event=events) as cmp:  # fmt: skip
        r = cmp.run(PROMPT)
        assert r.memory_mode == SEQUENTIAL and r.memory.both_fit
        for side in ("a", "b"):
            kinds = events.kinds(side)
            assert kinds[:2] == ["loading", "loaded"] and kinds[-1] == "finished"
            assert kinds.count("chunk") >= 2
        assert events.text("a") == r.a.answer and events.text("b") == r.b.answer
        # Sequential: A finished before B started loading.
        order = [(s, k) for s, k, _ in events.items if k in ("finished", "loading")]
        assert order.index(("a", "finished")) < order.index(("b", "loading"))
        assert r.a.answer.strip() and r.a.answer == r.b.answer
        ag = r.agreement
        assert ag is not None and ag.greedy
        assert ag.identical_share == 1.0 and ag.first_divergence is None and ag.char_offset_a is None
        assert ag.tokens_a == len(r.a.token_ids) > 0
        for side in (r.a, r.b):
            s = side.speed
            assert s.file_size_bytes == default_model.stat().st_size
            assert 4 < s.bits_per_weight < 7 and s.load_s > 0 and s.loaded_this_turn
            assert s.ttft_s > 0 and s.prompt_tps > 0 and s.gen_tps > 0 and s.gen_tokens > 0
        assert r.deltas["file_size_bytes"]["ratio"] == 1.0
        assert r.a.vocab == r.b.vocab and r.a.vocab.startswith("49152:")
        # A follow-up continues both conversations.
        r2 = cmp.follow_up("And three animals?")
        assert r2.turn == 2 and [m.role for m in cmp.histories["a"]] == ["user", "assistant", "user", "assistant"]
        assert cmp.histories["a"] == cmp.histories["b"]
        assert r2.a.speed.prompt_tokens > r.a.speed.prompt_tokens and not r2.a.speed.loaded_this_turn
        assert r2.agreement is not None and r2.agreement.identical_share == 1.0
        quality = cmp.measure_quality(TEXT, n_ctx=N_CTX)
        assert quality.kl_mean == pytest.approx(0, abs=1e-6) and quality.top1_agree == 1.0
        assert r2.quality is quality
    data = json.loads(json.dumps(r2.to_dict()))
    assert data["agreement"]["identical_share"] == 1.0 and data["quality"]["kl_mean"] == pytest.approx(0, abs=1e-6)
    assert data["a"]["speed"]["gen_tokens"] > 0 and data["memory_mode"] == SEQUENTIAL
    # The record is what the sessions store takes.
    from edgetui.core.store.store import Store

    store = Store.open(tmp_path / "db.sqlite")
    try:
        store.add_comparison(**compare_to_record(r2))
        saved = store.list_comparisons()
        assert saved[0]["prompt"] == "And three animals?"
        assert saved[0]["result"]["agreement"]["identical_share"] == 1.0
    finally:
        store.close()


@pytest.mark.engine
def test_memory_short_loads_one_model_at_a_time(default_model: Path) -> None:
    events = Events()
    cmp = Compare(default_model, default_model, sampler=SamplerSettings.greedy(max_tokens=6), load_options=OPTIONS,
                  concurrent=True, available_bytes=50 << 20, on_event=events)  # fmt: skip
    r = cmp.run(PROMPT)
    assert r.memory_mode == SWAP == "sequential: not enough memory for both"
    assert not r.memory.both_fit and r.memory.available == 50 << 20
    assert any("concurrent run not possible" in n for n in r.notes)
    assert cmp.engines["a"].info is None and cmp.engines["b"].info is None  # both unloaded again
    assert events.kinds("a")[-1] == "finished" and events.kinds("b")[0] == "loading"
    assert r.a.speed.loaded_this_turn and r.b.speed.loaded_this_turn
    assert r.agreement is not None and r.agreement.identical_share == 1.0


@pytest.mark.engine
def test_concurrent_runs_both_sides_in_threads(default_model: Path) -> None:
    events = Events()
    with Compare(default_model, default_model, sampler=SamplerSettings.greedy(max_tokens=6), load_options=OPTIONS,
                 concurrent=True, on_event=events) as cmp:  # fmt: skip
        r = cmp.run(PROMPT)
    assert r.memory_mode == CONCURRENT
    assert r.a.answer == r.b.answer == events.text("a") == events.text("b")
    assert r.agreement is not None and r.agreement.first_divergence is None


@pytest.mark.engine
def test_cancel_skips_b_and_keeps_history(default_model: Path) -> None:
    cancel = threading.Event()

    def on_event(side: str, kind: str, payload: object) -> None:
        if side == "a" and kind == "chunk":
            cancel.set()

    with Compare(default_model, default_model, sampler=SamplerSettings.greedy(max_tokens=12), load_options=OPTIONS,
                 on_event=on_event) as cmp:  # fmt: skip
        r = cmp.run(PROMPT, cancel=cancel)
        assert r.cancelled and r.agreement is None
        assert r.b.answer == "" and "cancelled" in r.b.stats.note
        assert cmp.histories == {"a": [], "b": []} and cmp.engines["b"].info is None


@pytest.mark.engine
def test_a_local_model_against_a_remote_endpoint(default_model: Path) -> None:
    events = Events()
    with FakeOpenAIServer(mode="llama") as server:
        endpoint = Endpoint(name="fake", base_url=f"{server.url}/v1", model="fake-model")
        b_path = ModelRef.remote("fake", "fake-model")
        with Compare(default_model, b_path, sampler=SamplerSettings.greedy(max_tokens=8), load_options=OPTIONS,
                     on_event=events, endpoints=(endpoint,)) as cmp:  # fmt: skip
            assert cmp.memory.both_fit and cmp.memory.need_b == 0 and cmp.memory.need_a > 0
            r = cmp.run(PROMPT)
            assert r.a.answer.strip() and r.b.answer == "Hello, world!" == events.text("b")
            assert events.kinds("b")[:2] == ["loading", "loaded"] and events.kinds("b")[-1] == "finished"
            assert r.a.token_ids and not r.b.token_ids and r.b.vocab == ""
            assert r.agreement is None and "agreement needs both vocabularies (remote side)" in r.notes
            sb = r.b.speed  # from the server's timings, through the client
            assert sb.gen_tps > 0 and sb.prompt_tps == 500.0 and sb.gen_tokens == 4 and sb.ttft_s > 0
            assert sb.file_size_bytes == 0 and sb.bits_per_weight == 0 and sb.rss_delta_bytes == 0
            assert r.a.speed.file_size_bytes == default_model.stat().st_size
            assert r.deltas["gen_tps"]["b"] == sb.gen_tps and r.deltas["file_size_bytes"]["b"] is None
            rss = r.deltas["rss_delta_bytes"]
            assert rss["b"] is None and rss["diff"] is None and rss["ratio"] is None
            assert sb.remote and not r.a.speed.remote
            chats = [q for q in server.requests if q.path == "/v1/chat/completions"]
            assert chats[-1].body["model"] == "fake-model" and chats[-1].body["temperature"] == 0
            r2 = cmp.follow_up("And three animals?")
            assert r2.turn == 2 and [m.role for m in cmp.histories["b"]] == ["user", "assistant"] * 2
            with pytest.raises(EngineError, match="quality needs logits: a remote endpoint does not give them"):
                cmp.measure_quality(TEXT, n_ctx=N_CTX)
            assert json.loads(json.dumps(r2.to_dict()))["b"]["path"] == str(b_path) == "openai:fake/fake-model"
    unknown = r"No endpoint named 'nowhere' for openai:nowhere/m: .*\(configured: 'fake'\)"
    with pytest.raises(EngineError, match=unknown):
        Compare(default_model, "openai:nowhere/m", endpoints=(endpoint,))


@pytest.mark.engine
def test_memory_plan_uses_the_fit_estimate(default_model: Path) -> None:
    plan = plan_memory(default_model, default_model, OPTIONS, available_bytes=64 << 30)
    assert plan.both_fit and plan.method == "fit estimate"
    assert default_model.stat().st_size * 0.9 < plan.need_a < default_model.stat().st_size * 3
    short = plan_memory(default_model, default_model, OPTIONS, available_bytes=plan.need_a + plan.need_b)
    assert not short.both_fit and "not enough memory for both" in short.reason  # no headroom left


def _side(ids: list[int], text: str, offsets: list[int]) -> SideResult:
    return SideResult("a", "m.gguf", "m", "Q4_1", text, SpeedRecord(), GenerationStats(), ids, offsets)


def test_agreement_marks_the_first_divergence() -> None:
    a = _side([1, 2, 3, 4], "The red fox", [0, 3, 7, 8])
    b = _side([1, 2, 5], "The red dog", [0, 3, 7])
    ag = Agreement.of(a, b, greedy=True)
    assert (ag.first_divergence, ag.char_offset_a, ag.char_offset_b) == (2, 7, 7)
    assert ag.identical_tokens == 2 and ag.identical_share == 0.5
    prefix = Agreement.of(a, _side([1, 2], "The red", [0, 3]), greedy=True)
    assert prefix.first_divergence == 2 and prefix.char_offset_b == len("The red")
    assert Agreement.of(a, a, greedy=True).first_divergence is None


@pytest.mark.engine
def test_bad_models_give_user_errors(default_model: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="not found"):
        Compare(default_model, tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(EngineError, match="not a GGUF file"):
        Compare(bad, default_model)


@pytest.mark.engine
def test_cli_compare_json(default_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["compare", str(default_model), str(default_model), "--prompt", "Say hi.", "--json",
               "--max-tokens", "6", "--ctx", "512", "--threads", "2"])  # fmt: skip
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["a"]["answer"] == data["b"]["answer"] and data["agreement"]["identical_share"] == 1.0
    assert data["sampler"]["temperature"] == 0 and data["sampler"]["max_tokens"] == 6
    assert data["memory_mode"] == SEQUENTIAL and data["a"]["speed"]["gen_tokens"] <= 6

    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    rc = main(["compare", str(default_model), str(default_model), "--text", str(text), "--json", "--chunk", str(N_CTX),
               "--threads", "2"])  # fmt: skip
    assert rc == 0
    q = json.loads(capsys.readouterr().out)
    for key in ("ppl_a", "ppl_b", "ppl_ratio", "kl_mean", "top1_agree", "rms_dp"):
        assert key in q
    assert q["kl_mean"] == pytest.approx(0, abs=1e-6) and q["top1_agree"] == 1.0 and q["n_ctx"] == N_CTX


@pytest.mark.engine
def test_cli_compare_errors(default_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(default_model), str(default_model)]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert main(["compare", str(default_model), str(tmp_path / "missing.gguf"), "--prompt", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgetui: ") and "not found" in err and "Traceback" not in err
    assert main(["compare", str(default_model), str(default_model), "--text", str(tmp_path / "none.txt")]) == 1
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.engine
def test_cli_compares_a_local_model_with_a_configured_endpoint(default_model: Path, edgetui_home: Path, capsys) -> None:
    from edgetui.cli import main

    with FakeOpenAIServer(mode="llama") as server:
        (edgetui_home / "config.toml").write_text(
            f'[[endpoints]]\nname = "fake"\nbase_url = "{server.url}/v1"\nmodel = "fake-model"\n'
        )
        code = main(["compare", str(default_model), "openai:fake/fake-model", "--prompt", "Hi", "--max-tokens", "6"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Hello, world!" in out and "generation tok/s" in out
