"""Separate processes on one database: SIGKILL mid-answer loses at most the last second; two writers lose nothing."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from edgetui.core.store.migrations import MIGRATION_NAMES
from edgetui.core.store.store import Store

WRITER = Path(__file__).with_name("store_writer.py")
ROOT = WRITER.parents[2]
TIMEOUT_S = 120


class Writer:
    """tests/core/store_writer.py in a subprocess, its stdout events read by a thread (never blocking the test)."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def next(self) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=TIMEOUT_S)
        except queue.Empty:
            self.proc.kill()
            pytest.fail("the writer process went silent")
        if event is None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            pytest.fail(f"the writer process ended early (rc {self.proc.wait()}):\n{err[-3000:]}")
        self.seen.append(event)
        return event

    def wait_for(self, kind: str, count: int = 1) -> None:
        while sum(e["event"] == kind for e in self.seen) < count:
            self.next()

    def sigkill(self) -> list[dict[str, Any]]:
        """SIGKILL it, then collect every event it printed before dying."""
        os.kill(self.proc.pid, signal.SIGKILL)
        assert self.proc.wait(timeout=TIMEOUT_S) == -signal.SIGKILL
        self._reader.join(timeout=TIMEOUT_S)
        while (event := self.events.get_nowait()) is not None:
            self.seen.append(event)
        return self.seen


def check_after_kill(db: Path, events: list[dict[str, Any]]) -> None:
    started = next(e for e in events if e["event"] == "started")
    last_saved = [e["text"] for e in events if e["event"] == "saved"][-1]
    # the file itself is sound and still says 'streaming': nobody cleaned up after the dead process
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert raw.execute("SELECT status FROM messages WHERE id = ?", (started["answer"],)).fetchone()[0] == "streaming"
    raw.close()

    store = Store.open(db)
    try:
        assert store.notice == ""
        user = store.message(started["user"])
        assert user is not None and user.status == "complete" and "lighthouse" in user.content
        answer = store.message(started["answer"])
        assert answer.status == "interrupted"  # marked when the database was opened again
        assert store.recovered == [started["answer"]]
        # everything up to the last save it reported is there (and at most one save it did not get to report)
        assert answer.content.startswith(last_saved)
        assert answer.content == last_saved or len(answer.content) > len(last_saved)
        thread = store.thread(started["session"])
        assert [m.id for m in thread] == [started["user"], started["answer"]]
    finally:
        store.close()
    assert Store.open(db).recovered == []  # marked once, for good


def test_sigkill_mid_answer_keeps_every_saved_word(tmp_path: Path) -> None:
    db = tmp_path / "edgetui.db"
    writer = Writer("fake", str(db), "--interval", "0.2")
    writer.wait_for("saved", 5)
    check_after_kill(db, writer.sigkill())


@pytest.mark.engine
def test_sigkill_mid_real_answer_from_llama_cpp(tmp_path: Path, default_model: Path) -> None:
    """A real answer streamed by llama.cpp, saved at most once a second, killed with SIGKILL mid-answer."""
    db = tmp_path / "edgetui.db"
    writer = Writer("engine", str(db), "--interval", "1.0")
    writer.wait_for("saved", 3)
    events = writer.sigkill()
    saved = [e["text"] for e in events if e["event"] == "saved"]
    assert len(saved) >= 3 and all(b.startswith(a) and len(b) > len(a) for a, b in zip(saved, saved[1:], strict=False))
    check_after_kill(db, events)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"  # a fresh file: both processes also race to create the schema
    barrier = tmp_path / "go"
    writers = [
        Writer("insert", str(db), "--count", "200", "--barrier", str(barrier), "--tag", tag)
        for tag in ("alpha", "beta")
    ]
    barrier.touch()
    done = []
    for w in writers:
        w.wait_for("done")
        done.append(next(e for e in w.seen if e["event"] == "done"))
        assert w.proc.wait(timeout=TIMEOUT_S) == 0
        assert "locked" not in (w.proc.stderr.read() if w.proc.stderr else "")
    assert not any(e["event"] == "notice" for w in writers for e in w.seen)
    store = Store.open(db)
    try:
        for tag, event in zip(("alpha", "beta"), done, strict=True):
            messages = store.messages(event["session"])
            assert [m.content for m in messages] == [f"{tag} message {i}" for i in range(200)]
            assert len(store.thread(event["session"])) == 200  # the chain of parents is intact
        assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 400
        assert store.conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(MIGRATION_NAMES)
    finally:
        store.close()
