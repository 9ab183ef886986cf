"""Session export (Markdown with performance tables, JSON that round-trips) and the sessions/export CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetui.cli import main
from edgetui.core.store.export import export_session, import_session_json
from edgetui.core.store.records import answer_status, run_record
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import ChatMessage, SamplerSettings
from edgetui.paths import Paths

RUN = {
    "model_name": "SmolLM2",
    "quant": "Q4_1",
    "ttft_s": 0.123,
    "prompt_tokens": 20,
    "prompt_eval_tokens": 20,
    "prompt_tps": 400.0,
    "gen_tokens": 9,
    "gen_tps": 61.5,
    "total_s": 0.3,
    "peak_rss": 300 * 2**20,
    "n_ctx": 2048,
    "n_threads": 2,
    "n_gpu_layers": 0,
    "stop_reason": "eos",
    "engine": "llama.cpp",
    "sampler": {"temperature": 0.0},
    "note": "a note",
}


def build(store: Store) -> int:
    sid = store.create_session("/m/smol.gguf", "SmolLM2", "You are a | helpful pirate.", {"temperature": 0.0})
    u = store.add_message(sid, "user", "Where is the treasure?")
    a1 = store.start_answer(sid, u, model="SmolLM2")
    store.finish_answer(a1, "Arr, under the palm tree.", "complete", RUN)
    a2 = store.start_answer(sid, u, model="SmolLM2")  # regenerated: two versions of the answer
    store.finish_answer(a2, "Buried on Skull Island, matey.", "complete", {**RUN, "gen_tps": 70.0})
    u2 = store.add_message(sid, "user", "How deep?", parent_id=a2)
    a3 = store.start_answer(sid, u2, model="SmolLM2")
    store.finish_answer(a3, "Ten paces", "stopped", {**RUN, "stop_reason": "cancelled"})
    store.add_comparison("Q8_0", "Q2_K", "hi", {"agreement": 0.8}, session_id=sid)
    return sid


def test_markdown_has_the_thread_and_a_performance_table_per_answer(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a.db")
    sid = build(store)
    md = export_session(store, sid, "md")
    assert md.startswith("# Where is the treasure?\n")
    assert "- Model: SmolLM2 (`/m/smol.gguf`)" in md
    assert "## System prompt\n\n> You are a | helpful pirate." in md
    assert "Arr, under the palm tree." not in md  # only the active branch
    assert "## Assistant · SmolLM2 (version 2 of 2)" in md
    assert "## Assistant · SmolLM2 [stopped]" in md
    assert md.count("| Performance | |") == 2
    assert "| Generation speed | 70.0 tok/s |" in md
    assert "| Time to first token | 0.123 s |" in md
    assert "| Peak memory (RSS) | 300 MiB |" in md
    assert "| Stop reason | cancelled |" in md
    store.close()


def test_json_round_trips_into_a_fresh_database(tmp_path: Path) -> None:
    src = Store.open(tmp_path / "a.db")
    sid = build(src)
    text = export_session(src, sid, "json")
    doc = json.loads(text)
    assert doc["format"] == "edgetui-session" and len(doc["messages"]) == 5 and len(doc["runs"]) == 3

    dst = Store.open(tmp_path / "b.db")
    dst.create_session(title="something else first, so that the ids differ")
    new = import_session_json(dst, text)
    assert new != sid

    def shape(store: Store, session_id: int) -> list[tuple]:
        return [(m.role, m.content, m.status, m.model) for m in store.thread(session_id)]

    assert shape(dst, new) == shape(src, sid)
    assert [len(dst.siblings(m.id)) for m in dst.thread(new)] == [len(src.siblings(m.id)) for m in src.thread(sid)]
    strip = ("id", "message_id", "session_id")
    runs = [{k: v for k, v in r.items() if k not in strip} for r in dst.runs(session_id=new)]
    assert runs == [{k: v for k, v in r.items() if k not in strip} for r in src.runs(session_id=sid)]
    old_s, new_s = src.get_session(sid), dst.get_session(new)
    assert (new_s.title, new_s.system_prompt, new_s.sampler, new_s.model_path) == (
        old_s.title,
        old_s.system_prompt,
        old_s.sampler,
        old_s.model_path,
    )
    assert dst.list_comparisons(new)[0]["result"] == {"agreement": 0.8}
    # and exporting the copy gives the same document, ids aside
    again = json.loads(export_session(dst, new, "json"))
    assert [m["content"] for m in again["messages"]] == [m["content"] for m in doc["messages"]]
    assert export_session(dst, new, "md") == export_session(src, sid, "md")
    src.close()
    dst.close()


def test_bad_exports_and_imports_raise_store_errors(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "a.db")
    with pytest.raises(StoreError, match="no session"):
        export_session(store, 42)
    sid = store.create_session()
    with pytest.raises(StoreError, match="format"):
        export_session(store, sid, "pdf")
    for bad in (
        "not json",
        "[]",
        '{"format": "other"}',
        '{"format": "edgetui-session", "session": 1}',
        '{"format": "edgetui-session", "version": 99, "session": {}, "messages": []}',
        '{"format": "edgetui-session", "session": {}, "messages": [{"content": "no id"}]}',
    ):
        with pytest.raises(StoreError):
            import_session_json(store, bad)
    assert [s.id for s in store.list_sessions()] == [sid]  # failed imports left nothing behind
    store.close()


@pytest.mark.engine
def test_a_real_answer_exports_with_its_measured_performance(tmp_path: Path, shared_engine) -> None:
    store = Store.open(tmp_path / "a.db")
    info = shared_engine.info
    sampler = SamplerSettings.greedy(max_tokens=16)
    sid = store.create_session(info.path, info.name, "", sampler)
    uid = store.add_message(sid, "user", "Name three colours.")
    aid = store.start_answer(sid, uid, model=info.name)
    gen = shared_engine.stream_chat([ChatMessage("user", "Name three colours.")], sampler)
    text = gen.run()
    store.finish_answer(aid, text, answer_status(gen.stats.stop_reason), run_record(gen.stats, info, sampler))
    [run] = store.runs(message_id=aid)
    assert run["gen_tokens"] > 0 and run["n_ctx"] == info.n_ctx and run["quant"] == info.quant
    assert run["llama_cpp_version"] and run["extra"]["engine_timings"]["n_eval"] > 0
    md = export_session(store, sid, "md")
    assert text.strip()[:20] in md
    assert f"| Generated tokens | {run['gen_tokens']} |" in md and "| Generation speed |" in md
    store.close()


# -- CLI -----------------------------------------------------------------------------------------------
def test_cli_sessions_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store.open(Paths.from_env().db_path)  # the default database, under the test's EDGETUI_HOME
    sid = build(store)
    store.close()

    assert main(["sessions"]) == 0
    out = capsys.readouterr().out
    assert "Where is the treasure?" in out and "SmolLM2" in out

    assert main(["sessions", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["id"] == sid and row["message_count"] == 5

    assert main(["sessions", "--search", "skull"]) == 0
    assert "[Skull]" in capsys.readouterr().out
    assert main(["sessions", "--search", "skull", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["session_id"] == sid

    assert main(["export", str(sid)]) == 0
    assert "| Performance | |" in capsys.readouterr().out
    out_file = tmp_path / "s.json"
    assert main(["export", "last", "--format", "json", "-o", str(out_file)]) == 0
    assert json.loads(out_file.read_text())["session"]["id"] == sid

    assert main(["sessions", "--import", str(out_file)]) == 0
    assert "as session" in capsys.readouterr().out
    assert main(["sessions", "--delete", str(sid)]) == 0
    capsys.readouterr()
    assert main(["sessions", "--json"]) == 0
    assert [r["title"] for r in json.loads(capsys.readouterr().out)] == ["Where is the treasure?"]


def test_cli_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "999"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgetui: ") and "no session 999" in err and "Traceback" not in err
    assert main(["export", "abc"]) == 1
    assert main(["export", "last"]) == 1
    assert "no saved sessions" in capsys.readouterr().err
    assert main(["sessions", "--import", str(tmp_path / "missing.json")]) == 1
    assert main(["sessions", "--delete", "5"]) == 1
    (tmp_path / "bad.json").write_text("{}")
    assert main(["sessions", "--import", str(tmp_path / "bad.json")]) == 1
    assert "not an edgetui session export" in capsys.readouterr().err


def test_cli_db_option_and_damaged_database_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.db"
    store = Store.open(other)
    store.create_session(model_name="X", title="elsewhere")
    store.close()
    for argv in (["--db", str(other), "sessions"], ["sessions", "--db", str(other)]):
        assert main(argv) == 0
        assert "elsewhere" in capsys.readouterr().out
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"garbage" * 1000)
    assert main(["sessions", "--db", str(broken)]) == 0  # a listing says so and leaves the file where it is
    captured = capsys.readouterr()
    assert "No saved sessions" in captured.out and "is damaged" in captured.err and "moves it aside" in captured.err
    assert broken.read_bytes() == b"garbage" * 1000
    assert main(["sessions", "--db", str(broken), "--delete", "1"]) == 1  # a writer moves it aside, and says so
    assert "moved to" in capsys.readouterr().err and not broken.read_bytes().startswith(b"garbage")
