"""The sessions database file: opened safely (WAL, damaged file moved aside, read-only -> memory) and migrated."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlite_utils.migrations import Migrations

if TYPE_CHECKING:
    from sqlite_utils import Database

MIGRATION_SET = "edgetui"
BUSY_TIMEOUT_S = 5.0
WRITE_RETRIES = 4
OPEN_TRIES = 4  # opening a file another process is creating, moving aside or recovering
BUSY_ERRORS = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_BUSY_SNAPSHOT", "SQLITE_BUSY_RECOVERY"})
_CORRUPT_ERRORS = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})
T = TypeVar("T")

migrations = Migrations(MIGRATION_SET)


@migrations()
def m001_initial(db: Database) -> None:
    """Sessions, their branching messages, and one run (performance record) per generated answer."""
    db.execute("""
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL DEFAULT '',
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model_path TEXT NOT NULL DEFAULT '',
            model_name TEXT NOT NULL DEFAULT '',
            system_prompt TEXT NOT NULL DEFAULT '',
            sampler TEXT NOT NULL DEFAULT '{}',
            current_message_id INTEGER
        )""")
    db.execute("""
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'complete',
            created TEXT NOT NULL,
            updated TEXT NOT NULL,
            model TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL DEFAULT ''
        )""")
    db.execute("CREATE INDEX idx_messages_session ON messages(session_id, parent_id)")
    db.execute("CREATE INDEX idx_messages_parent ON messages(parent_id)")
    db.execute("CREATE INDEX idx_messages_status ON messages(status)")
    db.execute("CREATE INDEX idx_sessions_updated ON sessions(updated)")
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            message_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
            session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
            model_path TEXT NOT NULL DEFAULT '',
            model_name TEXT NOT NULL DEFAULT '',
            sampler TEXT NOT NULL DEFAULT '{}',
            ttft_s REAL,
            prompt_tokens INTEGER,
            gen_tokens INTEGER,
            gen_tps REAL,
            total_s REAL,
            stop_reason TEXT,
            error TEXT,
            created TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX idx_runs_message ON runs(message_id)")
    db.execute("CREATE INDEX idx_runs_session ON runs(session_id)")


@migrations()
def m002_runs_perf(db: Database) -> None:
    """The full performance record of a run, fit-estimate measurements and llama-bench-like benchmarks."""
    runs = db.table("runs")
    for column, kind in (
        ("quant", str),
        ("n_ctx", int),
        ("n_threads", int),
        ("n_gpu_layers", int),
        ("prompt_eval_tokens", int),
        ("prompt_tps", float),
        ("peak_rss", int),
        ("engine", str),
        ("llama_cpp_version", str),
        ("extra", str),
    ):
        runs.add_column(column, kind)
    db.execute("""
        CREATE TABLE fit_measurements (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model_path TEXT NOT NULL,
            n_ctx INTEGER NOT NULL,
            predicted_bytes INTEGER,
            measured_bytes INTEGER,
            rel_error REAL,
            created TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE benchmarks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            model TEXT NOT NULL,
            size INTEGER,
            params INTEGER,
            backend TEXT,
            threads INTEGER,
            n_gpu_layers INTEGER,
            test TEXT NOT NULL,
            tps_mean REAL,
            tps_std REAL,
            reps INTEGER,
            created TEXT NOT NULL
        )""")


@migrations()
def m003_comparisons(db: Database) -> None:
    """Side-by-side comparison sessions: a session kind and the comparison results."""
    db.execute("ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat'")
    db.execute("""
        CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            session_id INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
            model_a TEXT NOT NULL,
            model_b TEXT NOT NULL,
            prompt TEXT NOT NULL DEFAULT '',
            result TEXT NOT NULL DEFAULT '{}',
            created TEXT NOT NULL
        )""")
    db.execute("CREATE INDEX idx_comparisons_session ON comparisons(session_id)")


@migrations()
def m004_fts(db: Database) -> None:
    """Full-text search over message contents, kept up to date by triggers."""
    db.table("messages").enable_fts(["content"], fts_version="FTS5", create_triggers=True, tokenize="porter unicode61")


@migrations()
def m005_app_state(db: Database) -> None:
    """What the app keeps between runs (the last session, the loaded model, theme, catalog sort, saved defaults),
    and a session's choice to drop its oldest turns without asking when the context is full."""
    db.execute("ALTER TABLE sessions ADD COLUMN drop_oldest INTEGER NOT NULL DEFAULT 0")
    db.execute("""
        CREATE TABLE app_state (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL DEFAULT 'null',
            updated TEXT NOT NULL
        )""")


MIGRATION_NAMES: tuple[str, ...] = tuple(
    f.__name__ for f in (m001_initial, m002_runs_perf, m003_comparisons, m004_fts, m005_app_state)
)


def apply_migrations(db: Database, stop_before: str | None = None) -> list[str]:
    """Apply pending migrations (the caller holds the write lock); return the names applied."""
    before = {m.name for m in migrations.applied(db)}
    migrations.apply(db, stop_before=stop_before)
    return [m.name for m in migrations.applied(db) if m.name not in before]


def pending_migrations(db: Database) -> list[str]:
    return [m.name for m in migrations.pending(db)]


# -- opening the file ----------------------------------------------------------------------------------
class _Damaged(Exception):
    """The database file is damaged: it is moved aside."""


@dataclass
class OpenedDatabase:
    """A migrated connection; `path` is None for the in-memory fallback; `notice` is for the user."""

    conn: sqlite3.Connection
    path: Path | None
    notice: str = ""


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


# -- which process is streaming an answer --------------------------------------------------------------
_owners: dict[int, str] = {}


def process_owner() -> str:
    """This process as `host|pid|start time`, recorded on the answers it streams."""
    pid = os.getpid()
    if pid not in _owners:
        import psutil

        try:
            started = psutil.Process(pid).create_time()
        except psutil.Error:
            started = 0.0
        _owners[pid] = f"{socket.gethostname()}|{pid}|{started:.2f}"
    return _owners[pid]


def owner_alive(owner: str) -> bool:
    """Whether the process that started a streaming answer still runs (a crashed one's answer is interrupted)."""
    import psutil

    host, _, rest = (owner or "").partition("|")
    pid, _, started = rest.partition("|")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        return f"{psutil.Process(int(pid)).create_time():.2f}" == started
    except psutil.Error:
        return False
