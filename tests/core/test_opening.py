"""Opening the sessions database file directly: WAL and migrated, damaged files moved aside with their side files,
the in-memory fallback, write transactions that wait for another writer, and who is streaming an answer."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
from pathlib import Path

import pytest

from edgetui.core.store import connection, opening
from edgetui.core.store.connection import connect, is_busy, write_transaction
from edgetui.core.store.migrations import MIGRATION_NAMES
from edgetui.core.store.opening import open_database
from edgetui.core.store.owners import owner_alive, process_owner


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def applied(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]


def test_a_new_file_is_created_in_wal_mode_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "edgetui.db"
    db = open_database(path)
    try:
        assert db.path == path and db.notice == ""
        assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert applied(db.conn) == list(MIGRATION_NAMES)
        assert {"sessions", "messages", "runs", "comparisons", "app_state"} <= tables(db.conn)
    finally:
        db.conn.close()
    again = open_database(path)  # reopening applies nothing twice
    try:
        assert applied(again.conn) == list(MIGRATION_NAMES) and again.notice == ""
    finally:
        again.conn.close()


def test_a_damaged_file_is_moved_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    path.write_bytes(b"not a database at all\n" * 100)
    db = open_database(path)
    try:
        assert db.path == path and "damaged" in db.notice and "nothing was deleted" in db.notice
        [moved] = tmp_path.glob("edgetui.db.corrupt-*")
        assert moved.read_bytes() == b"not a database at all\n" * 100
        assert str(moved) in db.notice
        assert applied(db.conn) == list(MIGRATION_NAMES)  # a fresh one in its place
    finally:
        db.conn.close()


def test_moving_aside_takes_the_wal_and_shm_along(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    for name, data in (("edgetui.db", b"main"), ("edgetui.db-wal", b"wal"), ("edgetui.db-shm", b"shm")):
        (tmp_path / name).write_bytes(data)
    moved = opening._move_aside(path)
    assert not path.exists() and moved.name.startswith("edgetui.db.corrupt-")
    assert {p.name[len(moved.name) :]: p.read_bytes() for p in tmp_path.glob(moved.name + "*")} == {
        "": b"main",
        "-wal": b"wal",
        "-shm": b"shm",
    }


def test_moving_aside_never_overwrites_an_earlier_damaged_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(opening.time, "strftime", lambda fmt: "20250101-120000")
    path = tmp_path / "edgetui.db"
    for n in range(3):
        path.write_bytes(f"garbage {n}\n".encode() * 100)
        db = open_database(path)
        db.conn.close()
        path.unlink()
        for side in ("-wal", "-shm"):
            path.with_name(path.name + side).unlink(missing_ok=True)
    names = {p.name: p.read_bytes()[:9] for p in tmp_path.glob("edgetui.db.corrupt-*")}
    assert names == {
        "edgetui.db.corrupt-20250101-120000": b"garbage 0",
        "edgetui.db.corrupt-20250101-120000-1": b"garbage 1",
        "edgetui.db.corrupt-20250101-120000-2": b"garbage 2",
    }


def test_read_only_reads_the_file_itself_and_never_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    db = open_database(path)
    db.conn.execute("INSERT INTO app_state (key, value, updated) VALUES ('theme', '\"dark\"', 'now')")
    db.conn.close()
    before = path.read_bytes()
    ro = open_database(path, read_only=True)
    try:
        assert ro.path == path and ro.notice == ""
        assert ro.conn.execute("SELECT value FROM app_state").fetchone()[0] == '"dark"'
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.conn.execute("DELETE FROM app_state")
    finally:
        ro.conn.close()
    assert path.read_bytes() == before


def test_read_only_reads_an_older_schema_through_a_migrated_copy(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from edgetui.core.store.connection import connect
    from edgetui.core.store.migrations import apply_migrations

    path = tmp_path / "old.db"
    conn = connect(str(path))
    apply_migrations(Database(conn), stop_before="m005_app_state")
    conn.execute("INSERT INTO sessions (title, created, updated) VALUES ('old one', 'now', 'now')")
    conn.close()
    before = path.read_bytes()
    ro = open_database(path, read_only=True)
    try:
        assert ro.path is None and ro.notice == ""  # (a copy: nothing to say, nothing was to be saved)
        assert ro.conn.execute("SELECT title FROM sessions").fetchone()[0] == "old one"
        assert ro.conn.execute("SELECT count(*) FROM app_state").fetchone()[0] == 0  # migrated, in the copy
    finally:
        ro.conn.close()
    assert path.read_bytes() == before


def test_read_only_never_moves_a_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "db" / "edgetui.db"
    path.parent.mkdir()
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4096)
    ro = open_database(path, read_only=True)
    ro.conn.close()
    assert "damaged" in ro.notice and "moves it aside when it next starts" in ro.notice
    assert sorted(p.name for p in path.parent.iterdir()) == ["edgetui.db"]  # left where it was
    writer = open_database(path)  # the app, which writes: it moves it aside and says so
    writer.conn.close()
    assert "moved to" in writer.notice and len(list(path.parent.glob("edgetui.db.corrupt-*"))) == 1


def test_a_database_another_process_holds_locked_opens_at_once_for_reading_and_writing(tmp_path: Path) -> None:
    """Another process holds the write lock (and keeps it until the test lets go): opening never waits for it
    when the schema is current, to read (a listing) or to write later (the app)."""
    path = tmp_path / "edgetui.db"
    db = open_database(path)
    db.conn.execute("INSERT INTO sessions (title, created, updated) VALUES ('there', 'now', 'now')")
    db.conn.close()
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    try:
        opened: list = []
        for read_only in (True, False):
            t = threading.Thread(target=lambda ro=read_only: opened.append(open_database(path, read_only=ro)))
            t.start()
            t.join(60)  # (had it waited for the lock, it would still wait: the lock is held until the end)
            assert not t.is_alive() and other.in_transaction, f"opening (read_only={read_only}) waited for the lock"
        for db in opened:
            assert db.path == path and db.notice == ""
            assert db.conn.execute("SELECT title FROM sessions").fetchone()[0] == "there"
            db.conn.close()
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_an_unreadable_file_still_gives_a_migrated_memory_database(tmp_path: Path, monkeypatch) -> None:
    def broken(path: Path) -> sqlite3.Connection:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(opening, "_open_file", broken)
    path = tmp_path / "edgetui.db"
    path.write_bytes(b"whatever")
    db = open_database(path)
    try:
        assert db.path is None and "disk I/O error" in db.notice and "in memory only" in db.notice
        assert applied(db.conn) == list(MIGRATION_NAMES)  # the copy was not a database: a blank one, migrated
    finally:
        db.conn.close()
    assert path.read_bytes() == b"whatever"


def test_a_file_that_keeps_being_replaced_gives_up_with_a_notice(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "edgetui.db"
    inodes = iter(range(1000))

    def damaged(p: Path) -> sqlite3.Connection:
        raise opening._Damaged("file is not a database")

    monkeypatch.setattr(opening, "_open_file", damaged)
    monkeypatch.setattr(opening, "_inode", lambda p: (0, next(inodes)))  # another process swaps it each time
    db = open_database(path)
    try:
        assert db.path is None and "keeps being replaced" in db.notice
    finally:
        db.conn.close()


def test_write_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    conn = connect(str(tmp_path / "t.db"))
    conn.execute("CREATE TABLE t (x INTEGER)")
    assert write_transaction(conn, lambda c: c.execute("INSERT INTO t VALUES (1)").rowcount) == 1

    def half_done(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (2)")
        raise ValueError("stop")

    with pytest.raises(ValueError, match="stop"):
        write_transaction(conn, half_done)
    assert not conn.in_transaction
    assert [r[0] for r in conn.execute("SELECT x FROM t")] == [1]
    conn.close()


def test_write_transaction_waits_for_another_writer_then_gives_up(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "t.db"
    writer = connect(str(path))
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (x INTEGER)")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("PRAGMA busy_timeout = 0")
    sleeps: list[float] = []

    def sleep(s: float) -> None:  # the other writer finishes while this one waits
        sleeps.append(s)
        if len(sleeps) == 2:
            writer.execute("COMMIT")

    monkeypatch.setattr(connection.time, "sleep", sleep)
    writer.execute("BEGIN IMMEDIATE")
    assert write_transaction(other, lambda c: c.execute("INSERT INTO t VALUES (1)").rowcount) == 1
    assert len(sleeps) == 2 and sleeps == sorted(sleeps)

    writer.execute("BEGIN IMMEDIATE")  # and this time it never does
    with pytest.raises(sqlite3.OperationalError) as exc:
        write_transaction(other, lambda c: c.execute("INSERT INTO t VALUES (2)"))
    assert is_busy(exc.value) and len(sleeps) == 2 + connection.WRITE_RETRIES - 1
    writer.execute("ROLLBACK")
    assert [r[0] for r in writer.execute("SELECT x FROM t")] == [1]
    other.close()
    writer.close()


def test_write_transaction_does_not_retry_other_errors(tmp_path: Path, monkeypatch) -> None:
    conn = connect(str(tmp_path / "t.db"))
    monkeypatch.setattr(connection.time, "sleep", lambda s: pytest.fail("retried a non-busy error"))
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        write_transaction(conn, lambda c: c.execute("INSERT INTO missing VALUES (1)"))
    assert not conn.in_transaction
    conn.close()


def test_the_owner_of_a_streaming_answer() -> None:
    me = process_owner()
    host, pid, started = me.split("|")
    assert host == socket.gethostname() and int(pid) == os.getpid() and float(started) > 0
    assert process_owner() is me  # asked once per process
    assert owner_alive(me)
    assert not owner_alive(f"{host}|{pid}|{float(started) + 1:.2f}")  # the pid, reused by a newer process
    assert not owner_alive(f"another-host|{pid}|{started}")
    assert not owner_alive("") and not owner_alive("garbage") and not owner_alive(f"{host}|notapid|1")


@pytest.mark.parametrize("command", [["sessions"], ["sessions", "--search", "lighthouse"], ["export", "last"]])
def test_reading_commands_answer_while_another_process_holds_the_database_locked(
    edgetui_home: Path, command: list[str]
) -> None:
    import subprocess
    import sys

    from edgetui.core.store.store import Store

    path = edgetui_home / "edgetui.db"
    store = Store.open(path)
    sid = store.create_session(title="lighthouse keeper")
    store.add_message(sid, "user", "a lighthouse")
    store.close()
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    try:
        run = subprocess.Popen([sys.executable, "-m", "edgetui", *command], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)  # fmt: skip
        out, err = run.communicate(timeout=120)
        assert other.in_transaction  # (still locked: the command did not wait for it)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert run.returncode == 0 and err == "" and "lighthouse" in out


def test_a_write_waiting_for_a_lock_is_seen_while_it_waits(tmp_path: Path) -> None:
    """Store.waiting_s: how long a write has been waiting (the app says "waiting for the sessions database")."""
    from edgetui.core.store.store import Store
    from tests.pty_app import wait_until

    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    assert store.waiting_s == 0.0
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    t = threading.Thread(target=lambda: (store.create_session(title="later"), done.set()))
    t.start()
    try:
        wait_until(lambda: store.waiting_s > 0.2, 30, what="the write to be seen waiting")
        assert not done.is_set()
    finally:
        other.execute("ROLLBACK")
        other.close()
    t.join(30)
    assert done.is_set() and store.waiting_s == 0.0 and store.list_sessions()[0].title == "later"
    store.close()
