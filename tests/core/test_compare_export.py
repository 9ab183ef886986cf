"""Markdown and JSON exports of stored comparisons (a real SQLite file; results built as Compare builds them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetui.core.compare.export import (
    agreement_summary,
    export_comparisons,
    render_comparisons,
    speed_cells,
    write_export,
)
from edgetui.core.compare.quality_report import QualityReport
from edgetui.core.compare.records import (
    Agreement,
    CompareResult,
    MemoryPlan,
    SideResult,
    SpeedRecord,
    compare_to_record,
)
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import ChatMessage, GenerationStats, SamplerSettings, StopReason


def side(name: str, quant: str, answer: str, size: int, tps: float, ids: list[int]) -> SideResult:
    speed = SpeedRecord(file_size_bytes=size, bits_per_weight=size * 8 / 1e8, load_s=0.2, ttft_s=0.05,
                        prompt_tps=400.0, gen_tps=tps, gen_tokens=len(ids))  # fmt: skip
    stats = GenerationStats(StopReason.LENGTH, gen_tokens=len(ids), gen_tps=tps)
    offsets = [i * 4 for i in range(len(ids))]
    return SideResult(name[0].lower(), f"/m/{name}.gguf", name, quant, answer, speed, stats, ids, offsets, "v")


def result(turn: int = 1, cancelled: bool = False) -> CompareResult:
    a = side("Model.Q8_0", "Q8_0", "Red, blue and green.", 150 << 20, 80.0, [1, 2, 3, 4, 5])
    b = side("Model.Q2_K", "Q2_K", "Red, blue and pink!", 60 << 20, 120.0, [1, 2, 3, 9])
    ag = Agreement.of(a, b, greedy=True)
    plan = MemoryPlan(True, 200 << 20, 100 << 20, 8 << 30)
    return CompareResult(turn, [ChatMessage("user", "Name three colours.")], a, b, ag, "sequential", plan,
                         SamplerSettings.greedy(max_tokens=12), cancelled, notes=["a note"])  # fmt: skip


def quality() -> QualityReport:
    return QualityReport(path_a="/m/a.gguf", path_b="/m/b.gguf", n_ctx=64, n_chunks=2, text_tokens=150, scored=62,
                         ppl_a=10.0, ppl_b=10.5, ppl_ratio=1.05, ln_ppl_ratio=0.0488, kl_mean=0.0488, kl_stderr=0.0123,
                         kl_median=0.01, kl_p90=0.03, kl_p99=0.1, kl_max=0.2, top1_agree=0.95, rms_dp=0.031,
                         mean_dp=-0.002, max_abs_dp=0.2, mode="both loaded")  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "db.sqlite")
    yield s
    s.close()


def test_markdown_has_both_answers_speed_table_agreement_and_quality(store: Store) -> None:
    sid = store.create_session(title="Q8_0 vs Q2_K", kind="compare")
    store.add_comparison(**compare_to_record(result(1)), session_id=sid)
    r2 = result(2, cancelled=True)
    r2.quality = quality()
    store.add_comparison(**compare_to_record(r2), session_id=sid)
    store.add_comparison(**compare_to_record(quality()), session_id=sid)
    md = export_comparisons(store, sid, "md")
    assert md.startswith("# Q8_0 vs Q2_K\n") and "- Model A: `/m/Model.Q8_0.gguf`" in md
    assert md.index("## Turn 1") < md.index("## Turn 2 ") < md.index("## Quality of B against A")
    assert "[cancelled]" in md and "> Name three colours." in md
    assert "### A · Model.Q8_0 [Q8_0]" in md and "Red, blue and pink!" in md
    assert "| File size | 150 MiB | 60.0 MiB | 0.40× |" in md
    assert "| Tokens generated | 5 | 4 | -1 |" in md
    assert "identical tokens: 60%  first divergence at token 3" in md
    assert "| Mean KL(A‖B) | 0.048800 ± 0.012300 |" in md and "| Top-1 agreement | 95.00% |" in md
    assert "- Note: a note" in md and "greedy, seed 0, up to 12 tokens" in md


def test_json_export_keeps_every_stored_row(store: Store, tmp_path: Path) -> None:
    sid = store.create_session(title="t", kind="compare")
    store.add_comparison(**compare_to_record(result(1)), session_id=sid)
    store.add_comparison(**compare_to_record(result(2)), session_id=sid)
    doc = json.loads(export_comparisons(store, sid, "json"))
    assert doc["format"] == "edgetui-comparison" and doc["session"]["kind"] == "compare"
    assert [c["result"]["turn"] for c in doc["comparisons"]] == [1, 2]  # oldest first
    assert doc["comparisons"][0]["result"]["agreement"]["first_divergence"] == 3
    written = write_export(store, sid, tmp_path / "exports")
    assert [p.name for p in written] == [f"compare-{sid}.md", f"compare-{sid}.json"]
    assert json.loads(written[1].read_text()) == doc


def test_errors_are_store_errors(store: Store, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no session 99"):
        export_comparisons(store, 99)
    sid = store.create_session(kind="compare")
    with pytest.raises(StoreError, match="Unknown export format"):
        export_comparisons(store, sid, "pdf")
    assert "_(no comparisons yet)_" in export_comparisons(store, sid)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="Could not write"):
        write_export(store, sid, blocker / "exports")


def test_wording_helpers() -> None:
    assert agreement_summary(None) == "token agreement: not measured"
    same = {"identical_share": 1.0, "first_divergence": None, "greedy": True}
    assert agreement_summary(same) == "identical tokens: 100%  identical answers"
    assert "sampled" in agreement_summary({**same, "greedy": False})
    assert speed_cells({"a": 0, "b": 5, "diff": 5, "ratio": None}, "gen_tps") == ("0.0", "5.0", "–")
    assert speed_cells({"a": None, "b": 1}, "load_s") == ("–", "1.00", "–")
    odd = render_comparisons([{"model_a": "a", "model_b": "b", "prompt": "", "result": {"x": 1}}])
    assert '"x": 1' in odd
