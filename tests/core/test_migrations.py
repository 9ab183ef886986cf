"""The schema is built only by named migrations: from a blank file and from every older schema, data kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from edgetui.core.store.migrations import MIGRATION_NAMES, apply_migrations, pending_migrations
from edgetui.core.store.store import Store

NOW = "2026-01-01T00:00:00.000+00:00"


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    finally:
        conn.close()


def test_migration_names_are_ordered_and_named() -> None:
    assert MIGRATION_NAMES[0] == "m001_initial"
    assert len(MIGRATION_NAMES) >= 3
    assert list(MIGRATION_NAMES) == sorted(MIGRATION_NAMES)


def test_blank_database_gets_every_migration(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    store = Store.open(path)
    assert store.notice == "" and store.persistent
    store.close()
    db = Database(path)
    applied = [row["name"] for row in db.query("SELECT name FROM _sqlite_migrations ORDER BY id")]
    assert applied == list(MIGRATION_NAMES)
    assert pending_migrations(db) == []
    assert db.journal_mode == "wal"
    db.close()
    names = tables(path)
    for table in (
        "sessions", "messages", "runs", "fit_measurements", "benchmarks", "comparisons", "messages_fts", "app_state"
    ):  # fmt: skip
        assert table in names
    # opening again applies nothing twice
    Store.open(path).close()
    db = Database(path)
    assert db.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] == len(MIGRATION_NAMES)
    db.close()


def _fill_old_schema(db: Database, level: int) -> None:
    """Rows a user of the schema after migration number `level` could have written."""
    db.execute(
        "INSERT INTO sessions (id, title, created, updated, model_name, sampler) "
        "VALUES (1, 'Old chat', ?, ?, 'Smol', '{\"temperature\": 0.2}')",
        (NOW, NOW),
    )
    db.execute(
        "INSERT INTO messages (id, session_id, parent_id, role, content, status, created, updated) "
        "VALUES (1, 1, NULL, 'user', 'What colour are flamingos?', 'complete', ?, ?)",
        (NOW, NOW),
    )
    db.execute(
        "INSERT INTO messages (id, session_id, parent_id, role, content, status, created, updated) "
        "VALUES (2, 1, 1, 'assistant', 'Flamingos are pink.', 'complete', ?, ?)",
        (NOW, NOW),
    )
    db.execute(
        "INSERT INTO messages (id, session_id, parent_id, role, content, status, created, updated) "
        "VALUES (3, 1, 1, 'assistant', 'Flamingos turn pink from their food.', 'streaming', ?, ?)",
        (NOW, NOW),
    )
    db.execute("UPDATE sessions SET current_message_id = 2 WHERE id = 1")
    db.execute(
        "INSERT INTO runs (message_id, session_id, ttft_s, gen_tokens, gen_tps, stop_reason, created) "
        "VALUES (2, 1, 0.25, 5, 42.0, 'eos', ?)",
        (NOW,),
    )
    if level >= 2:
        db.execute(
            "INSERT INTO fit_measurements (model_path, n_ctx, predicted_bytes, measured_bytes, rel_error,"
            " created) VALUES ('/m.gguf', 2048, 110, 100, 0.1, ?)",
            (NOW,),
        )
        db.execute("INSERT INTO benchmarks (model, test, tps_mean, created) VALUES ('Smol', 'pp512', 900.0, ?)", (NOW,))
    if level >= 3:
        db.execute(
            "INSERT INTO comparisons (session_id, model_a, model_b, prompt, result, created) "
            "VALUES (1, 'a', 'b', 'hi', '{\"agreement\": 0.5}', ?)",
            (NOW,),
        )


@pytest.mark.parametrize("stop_before", MIGRATION_NAMES[1:])
def test_upgrade_from_each_older_schema_keeps_data(tmp_path: Path, stop_before: str) -> None:
    path = tmp_path / f"old-{stop_before}.db"
    db = Database(path)
    applied = apply_migrations(db, stop_before=stop_before)
    level = MIGRATION_NAMES.index(stop_before)
    assert applied == list(MIGRATION_NAMES[:level])
    _fill_old_schema(db, level)
    db.close()

    store = Store.open(path)
    try:
        assert store.notice == ""
        session = store.get_session(1)
        assert session is not None
        assert session.title == "Old chat" and session.kind == "chat" and session.sampler == {"temperature": 0.2}
        assert [m.content for m in store.thread(1)] == ["What colour are flamingos?", "Flamingos are pink."]
        assert store.siblings(2) == [2, 3]
        assert store.message(3).status == "interrupted"  # streaming, and its writer is long gone
        run = store.runs(session_id=1)[0]
        assert run["gen_tps"] == 42.0 and run["quant"] is None
        # the full-text index covers the rows written before it existed, and new ones
        assert {h["message_id"] for h in store.search("flamingo")} == {1, 2, 3}
        new = store.add_message(1, "user", "And herons?", parent_id=2)
        assert [h["message_id"] for h in store.search("herons")] == [new]
        if level >= 2:
            assert store.fit_measurements()[0]["rel_error"] == pytest.approx(0.1)
            assert store.benchmarks()[0]["test"] == "pp512"
        if level >= 3:
            assert store.list_comparisons()[0]["result"] == {"agreement": 0.5}
        store.set_state("theme", "nord")  # the app's own state, new in m005
        assert store.get_state("theme") == "nord"
    finally:
        store.close()
    db = Database(path)
    assert pending_migrations(db) == []
    db.close()


def test_database_from_a_newer_edgetui_still_opens(tmp_path: Path) -> None:
    """A migration this version does not know about (written by a newer one) is left alone."""
    path = tmp_path / "newer.db"
    Store.open(path).close()
    db = Database(path)
    db.execute("CREATE TABLE future_things (id INTEGER PRIMARY KEY)")
    db["_sqlite_migrations"].insert({"migration_set": "edgetui", "name": "m999_future", "applied_at": NOW})
    db.close()
    store = Store.open(path)
    assert store.notice == ""
    assert store.create_session(model_name="x") > 0
    store.close()


def test_a_database_busy_while_another_process_sets_it_up_is_waited_for(tmp_path: Path, monkeypatch) -> None:
    """SQLite answers some WAL locks with "busy" at once, busy timeout or not: opening tries again, it does not fall
    back to an in-memory database that would lose the session."""
    from edgetui.core.store import opening

    real_open, calls = opening._open_file, []

    def busy_once(path: Path) -> sqlite3.Connection:
        calls.append(path)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database is locked")
        return real_open(path)

    monkeypatch.setattr(opening, "_open_file", busy_once)
    store = Store.open(tmp_path / "edgetui.db")
    try:
        assert len(calls) == 2
        assert store.persistent and store.notice == ""
    finally:
        store.close()


def test_a_database_that_stays_busy_falls_back_with_a_notice(tmp_path: Path, monkeypatch) -> None:
    from edgetui.core.store import opening

    def always_busy(path: Path) -> sqlite3.Connection:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(opening, "_open_file", always_busy)
    monkeypatch.setattr(opening.time, "sleep", lambda s: None)
    store = Store.open(tmp_path / "edgetui.db")
    try:
        assert not store.persistent
        assert "locked" in store.notice
    finally:
        store.close()
