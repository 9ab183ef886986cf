"""Writes nothing waits for go to the database in order on their own thread; a locked database holds up no one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgetui.core.store.background_writes import BackgroundWrites
from edgetui.core.store.store import Store
from tests.pty_app import wait_until


def test_writes_are_done_in_order_and_close_waits_for_them(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "edgetui.db")
    writes = BackgroundWrites(store)
    for theme in ("a", "b", "c"):
        writes.set_state("theme", theme)
    assert writes.close() and store.get_state("theme") == "c" and writes.failed == 0


def test_a_locked_database_holds_up_the_caller_not_at_all_and_the_write_happens_once_it_is_free(
    tmp_path: Path,
) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    writes = BackgroundWrites(store)
    writes.submit(lambda s: s.set_state("model", "/m/x.gguf"))  # (returns at once: the lock is still held)
    wait_until(lambda: store.waiting_s > 0.2, 30, what="the write to wait for the lock")
    other.execute("COMMIT")
    other.close()
    assert writes.close(30) and store.get_state("model") == "/m/x.gguf"


def test_close_does_not_hang_on_a_database_that_stays_locked(tmp_path: Path) -> None:
    path = tmp_path / "edgetui.db"
    store = Store.open(path)
    other = sqlite3.connect(path, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")
    writes = BackgroundWrites(store)
    writes.set_state("theme", "x")
    assert writes.close(timeout=0.2) is False  # (given up on: it is only not remembered)
    other.execute("ROLLBACK")
    other.close()
