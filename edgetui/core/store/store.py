"""Store: the SQLite sessions database (WAL, short write transactions, safe for two processes and crashes)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edgetui.core.store.connection import BUSY_TIMEOUT_S, connect, errname, is_busy, write_transaction
from edgetui.core.store.opening import migrate, open_database, read_only_file
from edgetui.core.store.owners import owner_alive, process_owner
from edgetui.core.store.records import (
    BENCH_COLUMNS,
    MESSAGE_COLS,
    MESSAGE_INSERT,
    MESSAGE_STATUSES,
    SESSION_INSERT,
    SESSION_SELECT,
    SessionInfo,
    StoredMessage,
    decode_json,
    fts_query,
    insert_row,
    insert_run,
    now_iso,
    session_from_row,
    title_from,
    to_json,
)

__all__ = ["SessionInfo", "Store", "StoreError", "StoredMessage"]

T = TypeVar("T")


class StoreError(Exception):
    """The sessions database could not be read or written; the message is written for the user."""


@dataclass(eq=False)
class Store:
    """One connection to the sessions database; every public method is thread-safe."""

    conn: sqlite3.Connection
    path: Path | None = None  # None: in memory, nothing is saved
    notice: str = ""  # something the user must be told about the database (moved aside, not saved, ...)
    recovered: list[int] = field(default_factory=list)  # answers marked 'interrupted' when opened
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # answers whose final save failed (a full disk, a locked file), kept whole to be saved again: id -> arguments
    _unsaved: dict[int, tuple[str, str, Mapping[str, Any] | None]] = field(default_factory=dict, repr=False)
    _saved_later: int = 0  # of those, how many were saved since `take_saved_later` was last asked
    _writing: list[float] = field(default_factory=list, repr=False)  # when each write under way began
    _writes: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, path: str | Path, read_only: bool = False) -> Store:
        """Open (creating and migrating) the database at `path`; a bad file or place gives a notice, not an error."""
        db = open_database(path, read_only)
        store = cls(db.conn, db.path, db.notice)
        if read_only:  # (a reader marks nothing: the app does, when it next opens the file)
            return store
        try:
            store._mark_interrupted()
        except StoreError:
            pass
        return store

    @classmethod
    def memory(cls, notice: str = "") -> Store:
        conn = connect(":memory:")
        migrate(conn)
        return cls(conn, None, notice)

    def _mark_interrupted(self) -> None:
        rows = self._rows("SELECT id, owner FROM messages WHERE status = 'streaming'")
        dead = [r["id"] for r in rows if not owner_alive(r["owner"])]
        if dead:
            marks = ",".join("?" * len(dead))
            self.write(
                lambda c: c.execute(
                    f"UPDATE messages SET status = 'interrupted' WHERE status = 'streaming' AND id IN ({marks})", dead
                )
            )
        self.recovered = dead

    @property
    def persistent(self) -> bool:
        return self.path is not None

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    # -- plumbing ------------------------------------------------------------------------------------
    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` in one short BEGIN IMMEDIATE transaction (retried while another process writes)."""
        started = time.monotonic()
        with self._writes:
            self._writing.append(started)
        try:
            with self._lock:
                try:
                    return write_transaction(self.conn, fn)
                except sqlite3.Error as exc:
                    raise StoreError(self._describe(exc)) from exc
        finally:
            with self._writes:
                self._writing.remove(started)

    @property
    def waiting_s(self) -> float:
        """How long the oldest write still under way has been going (0 when none is): a write that takes seconds
        waits for another process that holds the database locked, which the app says."""
        with self._writes:
            return time.monotonic() - min(self._writing) if self._writing else 0.0

    def _exec(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        return self.write(lambda c: c.execute(sql, params))

    def _insert(self, table: str, cols: Sequence[str], values: Sequence[Any]) -> int:
        return self.write(lambda c: insert_row(c, table, dict(zip(cols, values, strict=True))))

    def _rows(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                cur = self.conn.execute(sql, params)
                names = [d[0] for d in cur.description]
                return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
            except sqlite3.Error as exc:
                raise StoreError(self._describe(exc, "read")) from exc

    def _describe(self, exc: sqlite3.Error, verb: str = "save to") -> str:
        where = str(self.path) if self.path else "the in-memory database"
        name = errname(exc)
        if name.startswith("SQLITE_FULL") or "disk is full" in str(exc):
            return (
                f"The disk is full: could not {verb} {where}. Free some space: what is on the screen is kept"
                " and saved as soon as there is room."
            )
        if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
            culprit = read_only_file(self.path) if self.path else None
            if culprit is not None and culprit != self.path:
                return f"{culprit} has become read-only: could not {verb} {where} (make it writable: chmod u+w)."
            return f"{where} has become read-only: could not {verb} it."
        if is_busy(exc):
            return f"{where} stayed locked by another edgetui for over {BUSY_TIMEOUT_S:.0f} s: could not {verb} it."
        return f"Could not {verb} {where}: {exc}"

    # -- what the app keeps between runs -------------------------------------------------------------
    def get_state(self, key: str, default: Any = None) -> Any:
        """A value the app kept under `key` (JSON), or `default` when there is none or it cannot be read."""
        try:
            rows = self._rows("SELECT value FROM app_state WHERE key = ?", (key,))
        except StoreError:
            return default
        try:
            value = json.loads(rows[0]["value"]) if rows else None
        except ValueError:
            value = None
        return default if value is None else value

    def set_state(self, key: str, value: Any) -> None:
        """Keep `value` (JSON-serialisable; None forgets it) under `key`."""
        if value is None:
            self._exec("DELETE FROM app_state WHERE key = ?", (key,))
            return
        self._exec(
            "INSERT INTO app_state (key, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            (key, json.dumps(value), now_iso()),
        )

    # -- sessions ------------------------------------------------------------------------------------
    def create_session(
        self,
        model_path: str | Path = "",
        model_name: str = "",
        system_prompt: str = "",
        sampler: Any = None,
        title: str = "",
        kind: str = "chat",
    ) -> int:
        now = now_iso()
        values = (title, now, now, str(model_path), model_name, system_prompt, to_json(sampler), kind)
        return self._insert("sessions", SESSION_INSERT, values)

    def get_session(self, session_id: int) -> SessionInfo | None:
        rows = self._rows(SESSION_SELECT + " WHERE s.id = ?", (session_id,))
        return session_from_row(rows[0]) if rows else None

    def list_sessions(self, limit: int = 50, query: str | None = None, kind: str | None = None) -> list[SessionInfo]:
        """Newest first; `query` matches titles and message text."""
        where, params = ["1"], []
        if kind:
            where.append("s.kind = ?")
            params.append(kind)
        if query and query.strip():
            fts = fts_query(query)
            cond = "s.title LIKE ?"
            params.append(f"%{query.strip()}%")
            if fts:
                cond += (
                    " OR s.id IN (SELECT m.session_id FROM messages_fts f JOIN messages m ON m.id = f.rowid"
                    " WHERE messages_fts MATCH ?)"
                )
                params.append(fts)
            where.append(f"({cond})")
        sql = f"{SESSION_SELECT} WHERE {' AND '.join(where)} ORDER BY s.updated DESC, s.id DESC LIMIT ?"
        return [session_from_row(r) for r in self._rows(sql, (*params, limit))]

    def _set(self, session_id: int, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        self._exec(f"UPDATE sessions SET {cols}, updated = ? WHERE id = ?", (*values.values(), now_iso(), session_id))

    def rename_session(self, session_id: int, title: str) -> None:
        self._set(session_id, title=title.strip())

    def set_system_prompt(self, session_id: int, text: str) -> None:
        self._set(session_id, system_prompt=text)

    def set_sampler(self, session_id: int, sampler: Any) -> None:
        self._set(session_id, sampler=to_json(sampler))

    def set_model(self, session_id: int, model_path: str | Path, model_name: str) -> None:
        self._set(session_id, model_path=str(model_path), model_name=model_name)

    def set_drop_oldest(self, session_id: int, drop: bool) -> None:
        self._exec("UPDATE sessions SET drop_oldest = ? WHERE id = ?", (int(drop), session_id))

    def set_current(self, session_id: int, leaf_id: int | None) -> None:
        self._exec("UPDATE sessions SET current_message_id = ? WHERE id = ?", (leaf_id, session_id))

    def delete_session(self, session_id: int) -> bool:
        """Delete a session with its messages, runs and comparisons."""
        return self._exec("DELETE FROM sessions WHERE id = ?", (session_id,)).rowcount > 0

    # -- messages ------------------------------------------------------------------------------------
    def add_message(
        self,
        session_id: int,
        role: str,
        content: str,
        parent_id: int | None = None,
        status: str = "complete",
        model: str = "",
    ) -> int:
        """Insert a message as the new leaf of the active branch (committed when this returns)."""
        if status not in MESSAGE_STATUSES:
            raise StoreError(f"Unknown message status {status!r}")
        owner = process_owner() if status == "streaming" else ""

        def insert(c: sqlite3.Connection) -> int:
            session = c.execute("SELECT title FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if session is None:
                raise StoreError(f"There is no session {session_id}")
            if parent_id is not None:
                parent = c.execute("SELECT session_id FROM messages WHERE id = ?", (parent_id,)).fetchone()
                if parent is None or parent[0] != session_id:
                    raise StoreError(f"Message {parent_id} is not in session {session_id}")
            now = now_iso()
            values = (session_id, parent_id, role, content, status, now, now, model, owner)
            mid = insert_row(c, "messages", dict(zip(MESSAGE_INSERT, values, strict=True)))
            title = session[0] or (title_from(content) if role == "user" else "")
            c.execute(
                "UPDATE sessions SET current_message_id = ?, updated = ?, title = ? WHERE id = ?",
                (mid, now, title, session_id),
            )
            return int(mid)

        return self.write(insert)

    def start_answer(self, session_id: int, parent_id: int | None, model: str = "") -> int:
        """An empty assistant message with status 'streaming', child of `parent_id`."""
        return self.add_message(session_id, "assistant", "", parent_id, status="streaming", model=model)

    def update_answer(self, message_id: int, text: str) -> None:
        """Save the text streamed so far (call it at most about once a second). An answer that is no longer
        streaming keeps its final text: a periodic save that comes late (after a wait for the lock) changes
        nothing."""
        self._exec(
            "UPDATE messages SET content = ?, updated = ? WHERE id = ? AND status = 'streaming'",
            (text, now_iso(), message_id),
        )

    def finish_answer(
        self, message_id: int, text: str, status: str = "complete", run: Mapping[str, Any] | None = None
    ) -> int | None:
        """Save the final text and status and, when given, the run's performance record; return the run id."""
        if status not in MESSAGE_STATUSES:
            raise StoreError(f"Unknown message status {status!r}")

        def finish(c: sqlite3.Connection) -> int | None:
            now = now_iso()
            row = c.execute("SELECT session_id FROM messages WHERE id = ?", (message_id,)).fetchone()
            if row is None:
                raise StoreError(f"There is no message {message_id}")
            c.execute(
                "UPDATE messages SET content = ?, status = ?, updated = ?, owner = '' WHERE id = ?",
                (text, status, now, message_id),
            )
            c.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, row[0]))
            return None if run is None else insert_run(c, message_id, row[0], run, now)

        try:
            run_id = self.write(finish)
        except StoreError:
            with self._lock:
                self._unsaved[message_id] = (text, status, run)  # whole, in memory, until a save succeeds
            raise
        with self._lock:
            if self._unsaved.pop(message_id, None) is not None:
                self._saved_later += 1
        return run_id

    # -- answers that could not be saved ----------------------------------------------------------
    @property
    def unsaved(self) -> int:
        """How many finished answers are only in memory (their save failed); read without the lock, as above."""
        return len(self._unsaved)

    def unsaved_answers(self) -> list[tuple[int, str]]:
        """(message id, text) of each of them."""
        with self._lock:
            return [(mid, args[0]) for mid, args in self._unsaved.items()]

    def save_unsaved(self) -> int:
        """Try to save them again (the disk may have room now); how many are saved now. Raises the StoreError of
        the first that still fails (the others are tried too)."""
        with self._lock:
            pending = list(self._unsaved.items())
        saved, error = 0, None
        for mid, (text, status, run) in pending:
            try:
                self.finish_answer(mid, text, status, run)
                saved += 1
            except StoreError as exc:
                error = error or exc
        if error is not None:
            raise error
        return saved

    @property
    def saved_later(self) -> int:
        """How many answers that had failed to save were saved since `take_saved_later` (read without the lock: a
        UI thread's timer may ask while a write waits on a locked file)."""
        return self._saved_later

    def take_saved_later(self) -> int:
        """How many answers that had failed to save were saved since the last call (then 0)."""
        with self._lock:
            count, self._saved_later = self._saved_later, 0
        return count

    def message(self, message_id: int) -> StoredMessage | None:
        rows = self._rows(f"SELECT {MESSAGE_COLS} FROM messages WHERE id = ?", (message_id,))
        return StoredMessage(**rows[0]) if rows else None

    def messages(self, session_id: int) -> list[StoredMessage]:
        """Every message of a session, all branches, oldest first."""
        rows = self._rows(f"SELECT {MESSAGE_COLS} FROM messages WHERE session_id = ? ORDER BY id", (session_id,))
        return [StoredMessage(**r) for r in rows]

    def thread(self, session_id: int, leaf_id: int | None = None) -> list[StoredMessage]:
        """The messages root→leaf of the active branch (or of the branch ending at `leaf_id`)."""
        if leaf_id is None:
            session = self.get_session(session_id)
            leaf_id = session.current_message_id if session else None
            if leaf_id is None:
                return []
        rows = self._rows(
            f"WITH RECURSIVE chain(id, depth) AS (SELECT id, 0 FROM messages WHERE id = ? AND session_id = ?"
            f" UNION ALL SELECT m.parent_id, chain.depth + 1 FROM messages m JOIN chain ON m.id = chain.id"
            f" WHERE m.parent_id IS NOT NULL)"
            f" SELECT {MESSAGE_COLS} FROM messages JOIN chain USING (id) ORDER BY chain.depth DESC",
            (leaf_id, session_id),
        )
        return [StoredMessage(**r) for r in rows]

    def siblings(self, message_id: int) -> list[int]:
        """Ids of the messages sharing this one's parent (itself included), oldest first."""
        rows = self._rows(
            "SELECT s.id FROM messages m JOIN messages s ON s.session_id = m.session_id"
            " AND s.parent_id IS m.parent_id WHERE m.id = ? ORDER BY s.id",
            (message_id,),
        )
        return [r["id"] for r in rows]

    def latest_leaf(self, message_id: int) -> int:
        """The most recent leaf under `message_id` (itself when it has no replies): the branch used last."""
        rows = self._rows(
            "WITH RECURSIVE down(id) AS (SELECT ? UNION ALL"
            " SELECT c.id FROM messages c JOIN down ON c.parent_id = down.id) SELECT max(id) AS id FROM down",
            (message_id,),
        )
        return rows[0]["id"] if rows and rows[0]["id"] is not None else message_id

    # -- runs, measurements, benchmarks, comparisons -------------------------------------------------
    def runs(self, session_id: int | None = None, message_id: int | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM runs WHERE 1", []
        if session_id is not None:
            sql, params = sql + " AND session_id = ?", [*params, session_id]
        if message_id is not None:
            sql, params = sql + " AND message_id = ?", [*params, message_id]
        return [decode_json(r, "sampler", "extra") for r in self._rows(sql + " ORDER BY id", params)]

    def add_fit_measurement(self, model_path: str | Path, n_ctx: int, predicted_bytes: int, measured_bytes: int) -> int:
        rel = (predicted_bytes - measured_bytes) / measured_bytes if measured_bytes else None
        cols = ("model_path", "n_ctx", "predicted_bytes", "measured_bytes", "rel_error", "created")
        return self._insert(
            "fit_measurements", cols, (str(model_path), n_ctx, predicted_bytes, measured_bytes, rel, now_iso())
        )

    def fit_measurements(self, model_path: str | Path | None = None) -> list[dict[str, Any]]:
        if model_path is None:
            return self._rows("SELECT * FROM fit_measurements ORDER BY id")
        return self._rows("SELECT * FROM fit_measurements WHERE model_path = ? ORDER BY id", (str(model_path),))

    def add_benchmark(self, row: Mapping[str, Any]) -> int:
        cols = [k for k in BENCH_COLUMNS if k in row]
        return self._insert("benchmarks", (*cols, "created"), (*(row[k] for k in cols), now_iso()))

    def benchmarks(self, model: str | None = None) -> list[dict[str, Any]]:
        if model is None:
            return self._rows("SELECT * FROM benchmarks ORDER BY id")
        return self._rows("SELECT * FROM benchmarks WHERE model = ? ORDER BY id", (model,))

    def add_comparison(
        self, model_a: str, model_b: str, prompt: str, result: Mapping[str, Any], session_id: int | None = None
    ) -> int:
        cols = ("session_id", "model_a", "model_b", "prompt", "result", "created")
        return self._insert("comparisons", cols, (session_id, model_a, model_b, prompt, to_json(result), now_iso()))

    def list_comparisons(self, session_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        where = "WHERE session_id = ?" if session_id is not None else "WHERE ? IS NULL"
        rows = self._rows(f"SELECT * FROM comparisons {where} ORDER BY id DESC LIMIT ?", (session_id, limit))
        return [decode_json(r, "result") for r in rows]

    # -- search --------------------------------------------------------------------------------------
    def search(self, query: str, limit: int = 50, mark: tuple[str, str] = ("[", "]")) -> list[dict[str, Any]]:
        """Full-text search over message contents, best matches first, each with a snippet."""
        fts = fts_query(query)
        if not fts:
            return []
        return self._rows(
            "SELECT m.id AS message_id, m.session_id, s.title, m.role, m.created,"
            " snippet(messages_fts, 0, ?, ?, '…', 12) AS snippet"
            " FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN sessions s ON s.id = m.session_id"
            " WHERE messages_fts MATCH ? ORDER BY rank LIMIT ?",
            (mark[0], mark[1], fts, limit),
        )
