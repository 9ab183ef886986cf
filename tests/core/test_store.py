"""Store on real SQLite files: branches, runs, search, damaged files, read-only locations and a full disk."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from edgetui.core.store.records import answer_status, run_record
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import GenerationStats, SamplerSettings, StopReason


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "edgetui.db")
    yield s
    s.close()


def chat(store: Store) -> tuple[int, int, int]:
    sid = store.create_session("/models/smol.gguf", "SmolLM2", "Be brief.", SamplerSettings.greedy())
    uid = store.add_message(sid, "user", "Tell me about bananas")
    aid = store.start_answer(sid, uid, model="SmolLM2")
    return sid, uid, aid


def test_a_chat_is_saved_and_reopened(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    sid, uid, aid = chat(store)
    assert store.message(aid).status == "streaming"
    store.update_answer(aid, "Bananas grow")
    stats = GenerationStats(
        StopReason.EOS, ttft_s=0.05, prompt_tokens=12, gen_tokens=7, gen_tps=80.0, total_s=0.2, note="short"
    )
    run_id = store.finish_answer(
        aid,
        "Bananas grow on big herbs.",
        answer_status(stats.stop_reason),
        run_record(stats, sampler=SamplerSettings.greedy(), peak_rss=123456),
    )
    assert run_id is not None
    store.close()

    store = Store.open(path)
    session = store.get_session(sid)
    assert session.title == "Tell me about bananas"  # from the first user message
    assert session.model_name == "SmolLM2" and session.system_prompt == "Be brief."
    assert session.sampler["temperature"] == 0.0 and session.current_message_id == aid
    assert session.message_count == 2
    assert [(m.role, m.content, m.status) for m in store.thread(sid)] == [
        ("user", "Tell me about bananas", "complete"),
        ("assistant", "Bananas grow on big herbs.", "complete"),
    ]
    [run] = store.runs(message_id=aid)
    assert run["id"] == run_id and run["session_id"] == sid
    assert run["gen_tps"] == 80.0 and run["peak_rss"] == 123456 and run["stop_reason"] == "eos"
    assert run["sampler"]["top_k"] == 1 and run["extra"]["note"] == "short"
    assert store.recovered == []
    store.close()


def test_regenerate_and_edit_make_sibling_branches(store: Store) -> None:
    sid, uid, first = chat(store)
    store.finish_answer(first, "first answer")
    second = store.start_answer(sid, uid)  # regenerate: the earlier answer stays as a sibling
    store.finish_answer(second, "second answer", "stopped")
    assert store.siblings(second) == [first, second]
    assert [m.content for m in store.thread(sid)] == ["Tell me about bananas", "second answer"]

    follow = store.add_message(sid, "user", "and apples?", parent_id=first)  # continue the first branch
    store.finish_answer(store.start_answer(sid, follow), "apples too")
    edited = store.add_message(sid, "user", "Tell me about cherries", parent_id=None)  # edit = new root sibling
    assert store.siblings(uid) == [uid, edited]
    assert [m.content for m in store.thread(sid)] == ["Tell me about cherries"]

    # switching back to the first branch follows its newest descendants
    leaf = store.latest_leaf(uid)
    store.set_current(sid, leaf)
    assert [m.content for m in store.thread(sid)] == [
        "Tell me about bananas",
        "first answer",
        "and apples?",
        "apples too",
    ]
    assert store.latest_leaf(second) == second
    assert [m.content for m in store.thread(sid, second)] == ["Tell me about bananas", "second answer"]
    assert len(store.messages(sid)) == 6
    with pytest.raises(StoreError, match="not in session"):
        store.add_message(store.create_session(), "user", "x", parent_id=uid)
    with pytest.raises(StoreError, match="no session"):
        store.add_message(9999, "user", "x")


def test_sessions_settings_list_and_delete(store: Store) -> None:
    a = store.create_session(model_name="A", title="first")
    b = store.create_session(model_name="B", title="second", kind="compare")
    store.add_message(a, "user", "hello")  # touching a session moves it to the top
    assert [s.id for s in store.list_sessions()] == [a, b]
    assert store.list_sessions(limit=1)[0].message_count == 1
    assert [s.id for s in store.list_sessions(kind="compare")] == [b]
    store.rename_session(b, "  renamed  ")
    store.set_system_prompt(b, "You are terse.")
    store.set_sampler(b, {"temperature": 1.5})
    store.set_model(b, "/x.gguf", "X")
    got = store.get_session(b)
    assert (got.title, got.system_prompt, got.sampler, got.model_name) == (
        "renamed",
        "You are terse.",
        {"temperature": 1.5},
        "X",
    )
    assert [s.id for s in store.list_sessions(query="renam")] == [b]
    assert store.delete_session(b) and not store.delete_session(b)
    assert store.get_session(b) is None


def test_full_text_search(store: Store) -> None:
    sid, uid, aid = chat(store)
    store.finish_answer(aid, "A banana plant is a giant herb; the fruit grows in hands.", run={"gen_tokens": 3})
    other = store.create_session(title="cooking")
    store.add_message(other, "user", "How do I bake banana bread?")
    hits = store.search("banana")
    assert {h["session_id"] for h in hits} == {sid, other}
    assert all("[" in h["snippet"] for h in hits)
    assert [h["message_id"] for h in store.search("giant herb")] == [aid]  # every word must match
    assert store.search("hand") != []  # stemming: "hands"
    assert store.search("bak") != []  # the last word is a prefix: search as you type
    for odd in ('"', "AND (", "-x NOT", "*", "banana OR", "col:umn"):
        store.search(odd)  # FTS5 syntax never leaks out as an error
    assert [s.id for s in store.list_sessions(query="bread")] == [other]
    store.delete_session(sid)
    assert {h["session_id"] for h in store.search("banana")} == {other}  # deleted sessions are not found
    assert store.conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # runs went with it


def test_measurements_benchmarks_and_comparisons(store: Store) -> None:
    store.add_fit_measurement("/m.gguf", 2048, predicted_bytes=120, measured_bytes=100)
    [fit] = store.fit_measurements("/m.gguf")
    assert fit["rel_error"] == pytest.approx(0.2)
    store.add_benchmark(
        {
            "model": "Smol",
            "size": 98,
            "params": 135,
            "backend": "cpu",
            "threads": 2,
            "n_gpu_layers": 0,
            "test": "tg32",
            "tps_mean": 55.5,
            "tps_std": 1.0,
            "reps": 3,
        }
    )
    assert store.benchmarks("Smol")[0]["tps_mean"] == 55.5
    sid = store.create_session(kind="compare", title="Q8 vs Q2")
    cid = store.add_comparison("Q8_0", "Q2_K", "hi", {"a": {"text": "x"}, "agreement": 0.9}, session_id=sid)
    assert store.list_comparisons(sid)[0]["id"] == cid
    assert store.list_comparisons()[0]["result"]["agreement"] == 0.9


def test_streaming_answer_of_a_live_process_is_not_marked_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    first = Store.open(path)
    _, _, aid = chat(first)
    second = Store.open(path)  # a second login while the first one is still answering
    assert second.message(aid).status == "streaming" and second.recovered == []
    first.finish_answer(aid, "done")
    assert second.message(aid).status == "complete"
    first.close()
    second.close()


def test_garbage_file_is_moved_aside_not_deleted(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    garbage = b"this is certainly not an SQLite database\n" * 200
    path.write_bytes(garbage)
    store = Store.open(path)
    assert store.persistent
    assert "moved to" in store.notice and "nothing was deleted" in store.notice
    [moved] = list(tmp_path.glob("edgetui.db.corrupt-*"))
    assert moved.read_bytes() == garbage
    assert str(moved) in store.notice
    sid = store.create_session(title="fresh")
    store.close()
    assert Store.open(path).get_session(sid).title == "fresh"


def test_damaged_pages_fail_the_integrity_check_and_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    sid = store.create_session(title="lots")
    parent = None
    for i in range(300):
        parent = store.add_message(sid, "user", f"message number {i} " * 20, parent)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 20 * page
    for p in range(3, len(data) // page, 2):
        data[p * page + 100 : p * page + 400] = os.urandom(300)
    path.write_bytes(bytes(data))
    store = Store.open(path)
    assert "damaged" in store.notice
    [moved] = list(tmp_path.glob("edgetui.db.corrupt-*"))
    assert moved.read_bytes() == bytes(data)
    assert store.list_sessions() == []
    store.close()


def test_unwritable_location_falls_back_to_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    store = Store.open(blocker / "sub" / "edgetui.db")
    assert not store.persistent
    assert "Nothing will be saved" in store.notice
    sid, uid, aid = chat(store)  # the chat keeps working
    store.finish_answer(aid, "in memory")
    assert [m.content for m in store.thread(sid)][-1] == "in memory"
    store.close()


def test_read_only_database_is_shown_but_never_written(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    sid = store.create_session(title="kept")
    store.close()
    before = path.read_bytes()
    ro = Store.open(path, read_only=True)
    assert ro.notice == "" and ro.get_session(sid).title == "kept"  # the file itself, read as it is
    with pytest.raises(StoreError, match="read-only"):
        ro.add_message(sid, "user", "never written")
    ro.close()
    assert path.read_bytes() == before


def probe_without_root_powers(db: Path) -> dict:
    """Open `db` in a subprocess that cannot override file permissions (tests run as root, which can)."""
    cmd = [sys.executable, str(Path(__file__).with_name("store_writer.py")), "probe", str(db)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")  # util-linux: on every Debian machine this project runs on
        assert setpriv is not None, "running as root needs setpriv to drop CAP_DAC_OVERRIDE"
        drop = "-dac_override,-dac_read_search,-fowner"
        cmd = [setpriv, "--inh-caps=-all", f"--bounding-set={drop}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", ["read-only file", "read-only directory with a database", "read-only directory"])
def test_read_only_locations_fall_back_to_memory(tmp_path: Path, case: str) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "edgetui.db"
    if case != "read-only directory":
        store = Store.open(db)
        store.create_session(title="old chat")
        store.close()
    before = db.read_bytes() if db.exists() else b""
    if case == "read-only file":
        db.chmod(0o444)
    else:
        folder.chmod(0o555)
    try:
        got = probe_without_root_powers(db)
    finally:
        folder.chmod(0o755)
        if db.exists():
            db.chmod(0o644)
    assert got["persistent"] is False and "Nothing will be saved" in got["notice"]
    assert got["thread"] == ["does the chat still work?"]  # the chat keeps working, in memory
    assert got["titles"] == ([] if case == "read-only directory" else ["old chat"])  # old sessions still shown
    assert (db.read_bytes() if db.exists() else b"") == before


def test_a_read_only_shm_file_is_named_and_writing_works_once_it_is_writable(tmp_path: Path) -> None:
    """SQLite leaves edgetui.db-shm beside the file; read-only (another user's, or restored from a backup) it
    made the app memory-only with a message that named the database. The message names the -shm file and how to
    fix it; once it is writable again, the next start writes to the file."""
    folder = tmp_path / "data"
    folder.mkdir()
    db = folder / "edgetui.db"
    store = Store.open(db)
    store.create_session(title="old chat")
    keep = sqlite3.connect(db)  # (a reader keeps -shm there, as a running edgetui does)
    keep.execute("SELECT count(*) FROM sessions").fetchone()
    shm = folder / "edgetui.db-shm"
    store.close()
    assert shm.exists()
    shm.chmod(0o444)
    try:
        got = probe_without_root_powers(db)
    finally:
        shm.chmod(0o644)
    assert got["persistent"] is False and f"{shm}: it is read-only" in got["notice"] and "chmod u+w" in got["notice"]
    again = probe_without_root_powers(db)  # writable again
    keep.close()
    assert again["persistent"] is True and again["notice"] == "" and "old chat" in again["titles"]


def test_disk_full_raises_a_store_error_and_the_store_recovers(store: Store) -> None:
    sid, uid, aid = chat(store)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: SQLITE_FULL
    with pytest.raises(StoreError, match="disk is full"):
        store.update_answer(aid, "x" * 200_000)
    assert store.message(aid).content == ""  # the failed write left nothing half-done
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    store.update_answer(aid, "x" * 200_000)
    assert len(store.message(aid).content) == 200_000


def test_threads_share_one_store(store: Store) -> None:
    sid = store.create_session()
    errors: list[BaseException] = []

    def work(tag: str) -> None:
        try:
            for i in range(50):
                store.add_message(sid, "user", f"{tag}{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_session(sid).message_count == 100


def test_unknown_status_is_refused(store: Store) -> None:
    sid = store.create_session()
    with pytest.raises(StoreError, match="status"):
        store.add_message(sid, "user", "x", status="weird")


def test_integrity_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    chat(store)
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
