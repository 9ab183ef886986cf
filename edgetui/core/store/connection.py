"""Connections to the sessions database: autocommit, a busy timeout, and write transactions retried while busy."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

BUSY_TIMEOUT_S = 5.0
WRITE_RETRIES = 4
BUSY_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"})
T = TypeVar("T")


def connect(target: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), waiting up to 5 s for another writer."""
    conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def errname(exc: BaseException) -> str:
    return getattr(exc, "sqlite_errorname", "") or ""


def is_busy(exc: BaseException) -> bool:
    return errname(exc) in BUSY_ERRORS or "locked" in str(exc)


def write_transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` in one BEGIN IMMEDIATE transaction, retried while another process keeps the database locked."""
    for attempt in range(WRITE_RETRIES):
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
        except sqlite3.Error as exc:
            if not is_busy(exc) or attempt == WRITE_RETRIES - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
