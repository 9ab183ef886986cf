"""A full disk mid-answer loses nothing: the answer stays whole in memory and is saved as soon as there is room (the
next periodic save, the next turn, quit); what never finds room is rescued into a file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from edgetui.core.chat.conversation import Conversation
from edgetui.core.store.store import Store, StoreError
from tests.ui.fake_engine import FakeEngine

LONG = " ".join(f"word{i}" for i in range(3000))


def _fill(store: Store) -> None:
    """No room left: the file cannot grow and its free pages are taken (SQLITE_FULL, as on a full disk)."""
    conn = store.conn
    with store._lock:
        conn.execute("CREATE TABLE IF NOT EXISTS filler (junk BLOB)")
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 1}")
        for size in (65536, 4096, 512, 64, 8):  # until not even a small row fits
            try:
                while True:
                    conn.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))
            except Exception:
                pass
        # and the room left in the messages table's last page, where a new answer's row would grow
        now = "2026-01-01T00:00:00"
        conn.execute("INSERT INTO sessions (title, created, updated) VALUES ('filler', ?, ?)", (now, now))
        sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
        try:
            while True:
                conn.execute(
                    "INSERT INTO messages (session_id, role, content, created, updated) VALUES (?, 'user', 'x', ?, ?)",
                    (sid, now, now),
                )
        except Exception:
            pass


def _free(store: Store) -> None:
    with store._lock:
        store.conn.execute("PRAGMA max_page_count = 1073741823")
        store.conn.execute("DROP TABLE IF EXISTS filler")
        store.conn.execute("DELETE FROM sessions WHERE title = 'filler'")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "edgetui.db")
    yield s
    s.close()


def test_an_answer_the_disk_has_no_room_for_is_kept_whole_and_saved_later(store: Store) -> None:
    conv = Conversation(store)
    conv.add_user("Tell me a long story.")
    answer_id = conv.begin_answer("fake")
    _fill(store)
    answer = conv.stream_answer(FakeEngine(LONG), answer_id, threading.Event(), save_every_s=0.0)
    assert answer.text == LONG and "disk is full" in answer.save_error and "kept" in answer.save_error
    assert store.unsaved == 1 and store.message(answer_id).status == "streaming"
    with pytest.raises(StoreError):
        store.save_unsaved()  # still full
    _free(store)
    assert store.save_unsaved() == 1
    saved = store.message(answer_id)
    assert (saved.content, saved.status) == (LONG, "complete")
    assert store.unsaved == 0 and store.take_saved_later() == 1 and store.take_saved_later() == 0
    assert len(store.runs(message_id=answer_id)) == 1  # its performance record too


def test_the_next_turn_saves_what_the_last_one_could_not(store: Store) -> None:
    conv = Conversation(store)
    conv.add_user("first")
    first = conv.begin_answer("fake")
    _fill(store)
    conv.stream_answer(FakeEngine(LONG), first, threading.Event(), save_every_s=0.0)
    assert store.unsaved == 1
    _free(store)
    conv.add_user("second")  # room again: the earlier answer goes in first
    assert store.unsaved == 0 and store.message(first).content == LONG


def test_a_periodic_save_that_succeeds_brings_the_earlier_answer_in(store: Store) -> None:
    conv = Conversation(store)
    conv.add_user("first")
    first = conv.begin_answer("fake")
    _fill(store)
    conv.stream_answer(FakeEngine(LONG), first, threading.Event(), save_every_s=0.0)
    _free(store)
    other = Conversation(store)  # another session (Ctrl+N), in the same app: the store keeps the answer
    second = other.begin_answer("fake")  # (a regenerate: no new prompt, so no retry at the turn)
    assert store.unsaved == 1
    answer = other.stream_answer(FakeEngine(LONG), second, threading.Event(), save_every_s=0.0)
    assert store.unsaved == 0
    assert answer.save_error == ""
    assert store.message(first).status == "complete"


def test_an_answer_never_saved_is_rescued_into_a_file(tmp_path: Path, capsys) -> None:
    from edgetui.commands.tui import _rescue

    class Where:
        data_dir = tmp_path

    _rescue([(7, f"The rescued {LONG[:40]}")], Where())
    files = list(tmp_path.glob("edgetui-unsaved-*.md"))
    assert len(files) == 1 and "The rescued word0" in files[0].read_text(encoding="utf-8")
    assert str(files[0]) in capsys.readouterr().out
