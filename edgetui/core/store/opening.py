"""Opening the sessions database file: WAL, checked, migrated; a damaged file moved aside, never deleted; an
unwritable or read-only place (or a file that stays locked) falls back to a database in memory, with a notice."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from edgetui.core.store.connection import BUSY_TIMEOUT_S, connect, errname, is_busy, write_transaction
from edgetui.core.store.migrations import apply_migrations, pending_migrations

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
    """Apply the pending migrations in one write transaction (two processes starting at once take turns). A schema
    that is current takes no lock at all: another process writing (or holding the file locked) does not hold up
    opening it."""
    from sqlite_utils import Database

    if not pending_migrations(Database(conn, execute_plugins=False)):
        return []
    return write_transaction(conn, lambda c: apply_migrations(Database(c, execute_plugins=False)))


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the database has every migration (read only)."""
    from sqlite_utils import Database

    return not pending_migrations(Database(conn, execute_plugins=False))


def open_database(path: str | Path, read_only: bool = False) -> OpenedDatabase:
    """Open, check and migrate the database file; never raises for a damaged file or an unwritable place."""
    path = Path(path).expanduser()
    if read_only:
        return _open_read_only(path)
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
            return _in_memory(path, _cannot_write(path, exc))
    return _in_memory(path, f"The sessions database {path} keeps being replaced or stays locked.")


def read_only_file(path: Path) -> Path | None:
    """The database file, or the -wal or -shm file beside it, that exists and cannot be written; None if none."""
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if name.exists() and not os.access(name, os.W_OK):
                return name
        except OSError:
            continue
    return None


def _cannot_write(path: Path, exc: BaseException) -> str:
    """Why the file cannot be written, naming the one that is read-only: SQLite says "readonly database" also
    when it is only the -shm or -wal file beside it (left by another user, or by a copy) or the directory."""
    name = read_only_file(path)
    if name is not None:
        sides = {"-wal": "its write-ahead log", "-shm": "its shared-memory file"}
        what = sides.get(name.name[len(path.name) :], "the sessions database")
        return (f"Cannot write {what} {name}: it is read-only (make it writable, e.g. chmod u+w {name}, or "
                "remove it while no edgetui runs, then start edgetui again).")  # fmt: skip
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return f"Cannot write in {path.parent}, where the sessions database is: the directory is read-only."
    return f"Cannot write the sessions database {path} ({exc})."


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
        if read_only_file(path) is not None:  # SQLite would only say so at the first write
            raise PermissionError(f"{read_only_file(path)} is read-only")
        migrate(conn)
        return conn
    except BaseException:
        conn.close()
        raise


def _open_read_only(path: Path) -> OpenedDatabase:
    """For a command that only reads (a listing, a search, an export): the file as it is, never written, never
    migrated, never moved aside, and not held up by another process that writes or holds the write lock (WAL
    readers do not wait for writers). A file of an older schema is read through a migrated copy in memory; a
    missing file is an empty database; a damaged one is said, and left where it is for the app to move aside."""
    if not path.is_file():
        conn = connect(":memory:")
        migrate(conn)
        return OpenedDatabase(conn, None)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S,
                               isolation_level=None, check_same_thread=False)  # fmt: skip
    except (sqlite3.Error, OSError, ValueError) as exc:
        return _in_memory(path, f"Cannot read the sessions database {path} ({exc}).", saved=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if is_current(conn):
            return OpenedDatabase(conn, path)
    except sqlite3.DatabaseError as exc:
        conn.close()
        msg = str(exc).lower()
        if errname(exc) in _CORRUPT_ERRORS or "not a database" in msg or "malformed" in msg:
            empty = connect(":memory:")
            migrate(empty)
            note = f"The sessions database {path} is damaged ({exc}); edgetui moves it aside when it next starts."
            return OpenedDatabase(empty, None, note)
        return _in_memory(path, f"Cannot read the sessions database {path} ({exc}).", saved=False)
    conn.close()
    return _in_memory(path, "", saved=False)  # an older schema: read through a migrated copy


def _in_memory(path: Path, reason: str, saved: bool = True) -> OpenedDatabase:
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
    if not saved:  # (a reader: nothing was to be saved)
        return OpenedDatabase(conn, None, reason)
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
