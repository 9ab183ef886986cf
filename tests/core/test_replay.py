"""Replaying a saved comparison: records stored in a real SQLite file turned back into turns and conversations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetui.core.compare.quality_report import QualityReport
from edgetui.core.compare.records import (
    Agreement,
    CompareResult,
    MemoryPlan,
    SideResult,
    SpeedRecord,
    compare_to_record,
)
from edgetui.core.compare.replay import Replay, replay, saved_footer
from edgetui.core.store.store import Store
from edgetui.core.types import ChatMessage, GenerationStats, SamplerSettings, StopReason


def side(letter: str, answer: str, tps: float, error: str | None = None) -> SideResult:
    stats = GenerationStats(StopReason.ERROR if error else StopReason.EOS, gen_tokens=len(answer.split()),
                            gen_tps=tps, error=error)  # fmt: skip
    path = f"/m/{letter.upper()}.gguf"
    return SideResult(letter, path, letter.upper(), "Q8_0", answer, SpeedRecord(gen_tps=tps), stats, [1, 2], [0, 2])


def result(prompt: str, answer_a: str, answer_b: str, cancelled: bool = False, error_b: str | None = None):
    a, b = side("a", answer_a, 80.0), side("b", answer_b, 123.456, error_b)
    return CompareResult(1, [ChatMessage("user", prompt)], a, b, Agreement.of(a, b, greedy=True), "sequential",
                         MemoryPlan(True, 1, 1, 2), SamplerSettings.greedy(max_tokens=12), cancelled)  # fmt: skip


def quality(ppl_b: float = 10.5) -> QualityReport:
    return QualityReport(path_a="/m/A.gguf", path_b="/m/B.gguf", n_ctx=64, n_chunks=2, text_tokens=150, scored=62,
                         ppl_a=10.0, ppl_b=ppl_b, ppl_ratio=ppl_b / 10, ln_ppl_ratio=0.05, kl_mean=0.05, kl_stderr=0.01,
                         kl_median=0.01, kl_p90=0.03, kl_p99=0.1, kl_max=0.2, top1_agree=0.95, rms_dp=0.03,
                         mean_dp=0.0, max_abs_dp=0.2, mode="both loaded")  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


def saved(store: Store, *records: CompareResult | QualityReport) -> Replay:
    """Save `records` in one comparison session, then replay it as the compare screen does (oldest first)."""
    sid = store.create_session(title="A vs B", kind="compare")
    for r in records:
        store.add_comparison(**compare_to_record(r), session_id=sid)
    return replay(list(reversed(store.list_comparisons(session_id=sid, limit=100_000))))


def test_turns_come_back_in_order_with_their_answers_footers_and_conversations(store: Store) -> None:
    got = saved(store, result("Name a colour.", "Red.", "Blue."), result("Another?", "Green.", "Pink."))
    assert got.turns == [
        ("Name a colour.", {"a": "Red.", "b": "Blue."},
         {"a": "saved · 1 tok · 80.0 tok/s", "b": "saved · 1 tok · 123.5 tok/s"}),
        ("Another?", {"a": "Green.", "b": "Pink."},
         {"a": "saved · 1 tok · 80.0 tok/s", "b": "saved · 1 tok · 123.5 tok/s"}),
    ]  # fmt: skip
    assert got.complete_turns == 2
    assert got.histories["a"] == [ChatMessage("user", "Name a colour."), ChatMessage("assistant", "Red."),
                                  ChatMessage("user", "Another?"), ChatMessage("assistant", "Green.")]  # fmt: skip
    assert [m.content for m in got.histories["b"]] == ["Name a colour.", "Blue.", "Another?", "Pink."]
    assert got.paths == {"a": "/m/A.gguf", "b": "/m/B.gguf"}
    assert got.last is not None and got.last["b"]["answer"] == "Pink." and "deltas" in got.last
    assert got.quality is None


def test_a_cancelled_or_failed_turn_is_shown_but_not_continued(store: Store) -> None:
    got = saved(
        store,
        result("One.", "1", "1"),
        result("Two.", "2", "", cancelled=True),
        result("Three.", "3", "", error_b="the model crashed"),
    )
    assert [t[0] for t in got.turns] == ["One.", "Two.", "Three."]
    assert got.complete_turns == 1
    assert [m.content for m in got.histories["a"]] == ["One.", "1"]
    assert got.last is not None and got.last["b"]["stats"]["error"] == "the model crashed"


def test_the_last_quality_report_is_kept_apart_from_the_turns(store: Store) -> None:
    got = saved(store, quality(11.0), result("Hi.", "Hello.", "Hey."), quality(12.0))
    assert len(got.turns) == 1 and got.complete_turns == 1
    assert got.quality is not None and got.quality["ppl_b"] == 12.0


def test_an_empty_session_replays_to_nothing(store: Store) -> None:
    got = saved(store)
    assert got.turns == [] and got.complete_turns == 0 and got.last is None and got.quality is None
    assert got.histories == {"a": [], "b": []} and got.paths == {}


def test_rows_from_another_version_or_damaged_are_left_out(store: Store) -> None:
    good = compare_to_record(result("Kept.", "yes", "yes"))
    bad_messages = compare_to_record(result("Odd messages.", "x", "y"))
    bad_messages["result"]["messages"] = [{"role": "user"}]  # no content: shown, not continued
    bad_stats = compare_to_record(result("Odd stats.", "x", "y"))
    bad_stats["result"]["a"]["stats"] = "fast"
    bad_stats["result"]["b"]["stats"] = {"gen_tokens": 3, "gen_tps": "quick"}
    sid = store.create_session(kind="compare")
    store.add_comparison(**good, session_id=sid)
    for odd in ([1, 2, 3], "a string", {"a": "not a side", "b": {}}, {"a": {}}):
        store.add_comparison("/m/x.gguf", "/m/y.gguf", "odd", odd, session_id=sid)  # type: ignore[arg-type]
    store.add_comparison(**bad_messages, session_id=sid)
    store.add_comparison(**bad_stats, session_id=sid)
    store.conn.execute("UPDATE comparisons SET result = 'not json' WHERE prompt = 'odd' AND id = (SELECT max(id) "
                       "FROM comparisons WHERE prompt = 'odd')")  # fmt: skip
    rows = list(reversed(store.list_comparisons(session_id=sid, limit=100)))
    assert [json.dumps(r["result"])[:1] for r in rows][:5] == ["{", "[", '"', "{", "{"]
    got = replay(rows)
    assert [t[0] for t in got.turns] == ["Kept.", "Odd messages.", "Odd stats."]
    assert got.turns[2][2] == {"a": "saved · 0 tok · 0.0 tok/s", "b": "saved · 3 tok · 0.0 tok/s"}
    assert got.complete_turns == 2  # the odd stats still make a turn to continue; the odd messages do not
    assert [m.content for m in got.histories["a"]] == ["Kept.", "yes", "Odd stats.", "x"]
    assert got.paths == {"a": "/m/A.gguf", "b": "/m/B.gguf"}  # from the first turn, not the odd rows


def test_saved_footer() -> None:
    assert saved_footer({"gen_tokens": 42, "gen_tps": 31.44}) == "saved · 42 tok · 31.4 tok/s"
    assert saved_footer({}) == "saved · 0 tok · 0.0 tok/s"
    assert saved_footer({"gen_tps": None}) == "saved · 0 tok · 0.0 tok/s"
