"""Opening the sessions database file: WAL, checked, migrated; a damaged file moved aside, never deleted; an
unwritable or read-only place (or a file that stays locked) falls back to a database in memory, with a notice."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from edgetui.core.store.connection import connect, errname, is_busy, write_transaction
from edgetui.core.store.migrations import apply_migrations

OPEN_TRIES = 4  # opening a file another process is creating, moving aside or recovering
_CORRUPT_ERRORS = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


class _Damaged(Exception):
    """The database file is damaged: it is moved aside."""


@dataclass
class OpenedDatabase:
    """A migrated connection; `path` is None for the in-memory fallback; `notice` is for the user."""

    conn: sqlite3.Connection
    path: Path | None
    notice: str = ""


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the pending migrations in one write transaction (two processes starting at once take turns)."""
    from sqlite_utils import Database

    return write_transaction(conn, lambda c: apply_migrations(Database(c, execute_plugins=False)))


def open_database(path: str | Path, read_only: bool = False) -> OpenedDatabase:
    """Open, check and migrate the database file; never raises for a damaged file or an unwritable place."""
    path = Path(path).expanduser()
    if read_only:
        return _in_memory(path, f"The sessions database {path} was opened read-only.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return _in_memory(path, f"Cannot create {path.parent} ({exc.strerror or exc}).")
    for attempt in range(OPEN_TRIES):
        ino = _inode(path)
        try:
            return OpenedDatabase(_open_file(path), path)
        except _Damaged as exc:
            if _inode(path) != ino:
                continue  # another process has already moved it aside and started a fresh one
            try:
                moved = _move_aside(path)
            except OSError as move_exc:
                return _in_memory(
                    path,
                    f"The sessions database {path} is damaged ({exc}) and could not be "
                    f"moved aside ({move_exc.strerror or move_exc}).",
                )
            try:
                conn = _open_file(path)
            except (_Damaged, sqlite3.Error, OSError) as again:
                return _in_memory(path, f"Cannot create a new sessions database at {path} ({again}).")
            return OpenedDatabase(
                conn,
                path,
                f"The sessions database was damaged ({exc}). It was moved to "
                f"{moved} (nothing was deleted) and a new, empty one was started.",
            )
        except (sqlite3.Error, OSError) as exc:
            if is_busy(exc) and attempt < OPEN_TRIES - 1:
                # another process is creating or recovering it: some of SQLite's WAL locks answer "busy" at once,
                # without the busy timeout (a test of two processes opening one fresh file fell back to memory once)
                time.sleep(0.1 * (attempt + 1))
                continue
            return _in_memory(path, f"Cannot write the sessions database {path} ({exc}).")
    return _in_memory(path, f"The sessions database {path} keeps being replaced or stays locked.")


def _open_file(path: Path) -> sqlite3.Connection:
    conn = connect(str(path))
    try:
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL: a killed process loses nothing committed
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:
            msg = str(exc).lower()
            if errname(exc) in _CORRUPT_ERRORS or "not a database" in msg or "malformed" in msg:
                raise _Damaged(str(exc)) from exc
            raise
        if [r[0] for r in rows] != ["ok"]:
            raise _Damaged("integrity check failed: " + "; ".join(str(r[0]) for r in rows[:3]))
        if not os.access(path, os.W_OK):  # SQLite would only say so at the first write
            raise PermissionError(f"{path.name} is read-only")
        migrate(conn)
        return conn
    except BaseException:
        conn.close()
        raise


def _in_memory(path: Path, reason: str) -> OpenedDatabase:
    """The fallback: an in-memory database (a copy of the file when it can be read), so the chat still works."""
    conn = connect(":memory:")
    # immutable=1 reads a WAL database in a directory where its -shm file cannot be created
    try:
        queries = ("mode=ro", "immutable=1") if path.is_file() else ()
    except OSError:
        queries = ()
    for query in queries:
        try:
            src = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, timeout=1.0)
            try:
                src.backup(conn)
            finally:
                src.close()
            break
        except (sqlite3.Error, OSError, ValueError):
            continue
    try:
        migrate(conn)
    except sqlite3.Error:
        conn.close()
        conn = connect(":memory:")
        migrate(conn)
    return OpenedDatabase(conn, None, f"{reason} Nothing will be saved: this session lives in memory only.")


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm files) to `<name>.corrupt-<timestamp>`; never delete it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(target.with_name(target.name + suffix))
    return target
