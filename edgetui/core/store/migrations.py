"""The sessions database's schema: its named migrations, applied in order to a blank or an older database."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlite_utils.migrations import Migrations

if TYPE_CHECKING:
    from sqlite_utils import Database

MIGRATION_SET = "edgetui"

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
