"""The sessions database's records and row helpers: sessions, messages, runs, timestamps, JSON, FTS queries."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MESSAGE_STATUSES = ("complete", "streaming", "stopped", "error", "interrupted")
# fmt: off
RUN_COLUMNS = (
    "model_path", "model_name", "quant", "n_ctx", "n_threads", "n_gpu_layers", "sampler", "ttft_s", "prompt_tokens",
    "prompt_eval_tokens", "prompt_tps", "gen_tokens", "gen_tps", "total_s", "peak_rss", "stop_reason", "error",
    "engine", "llama_cpp_version",
)
BENCH_COLUMNS = ("model", "size", "params", "backend", "threads", "n_gpu_layers", "test", "tps_mean", "tps_std", "reps")
# fmt: on
SESSION_INSERT = ("title", "created", "updated", "model_path", "model_name", "system_prompt", "sampler", "kind")
MESSAGE_INSERT = ("session_id", "parent_id", "role", "content", "status", "created", "updated", "model", "owner")
MESSAGE_COLS = "id, session_id, parent_id, role, content, status, created, updated, model"
SESSION_SELECT = (
    "SELECT s.id, s.title, s.created, s.updated, s.model_path, s.model_name, s.system_prompt, s.sampler,"
    " s.current_message_id, s.kind, s.drop_oldest,"
    " (SELECT count(*) FROM messages m WHERE m.session_id = s.id) AS message_count"
    " FROM sessions s"
)


@dataclass(frozen=True)
class SessionInfo:
    id: int
    title: str
    created: str
    updated: str
    model_path: str
    model_name: str
    system_prompt: str
    sampler: dict[str, Any]
    current_message_id: int | None
    kind: str = "chat"
    message_count: int = 0
    drop_oldest: bool = False  # when the context is full, its oldest turns are left out without asking

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredMessage:
    id: int
    session_id: int
    parent_id: int | None
    role: str
    content: str
    status: str
    created: str
    updated: str
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_last_now = [datetime.min.replace(tzinfo=UTC)]


def now_iso() -> str:
    """UTC ISO 8601 with microseconds, strictly increasing within this process (ordering by time is stable)."""
    now = max(datetime.now(UTC), _last_now[0] + timedelta(microseconds=1))
    _last_now[0] = now
    return now.isoformat(timespec="microseconds")


def to_json(value: Any) -> str:
    if value is None:
        return "{}"
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    return json.dumps(value, default=str)


def decode_json(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    for k in keys:
        try:
            row[k] = json.loads(row[k]) if row.get(k) else {}
        except ValueError:
            row[k] = {}
    return row


def session_from_row(row: dict[str, Any]) -> SessionInfo:
    row = decode_json(row, "sampler")
    row["drop_oldest"] = bool(row.get("drop_oldest"))
    return SessionInfo(**row)


def title_from(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"


def fts_query(query: str) -> str:
    """A safe FTS5 query: every word must match, the last one as a prefix (search as you type)."""
    words = re.findall(r"\w+", query)
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " ".join(quoted)


def insert_run(c: sqlite3.Connection, message_id: int, session_id: int, run: Mapping[str, Any], now: str) -> int:
    skip = {"id", "message_id", "session_id", "created", "extra"}
    values = {k: run[k] for k in RUN_COLUMNS if k in run}
    extra = {k: v for k, v in run.items() if k not in values and k not in skip}
    extra.update(run.get("extra") or {})
    if "sampler" in values:
        values["sampler"] = to_json(values["sampler"])
    for k, v in values.items():
        if v is not None and not isinstance(v, int | float | str):
            values[k] = str(v)
    extra_json = json.dumps(extra, default=str)
    row = dict(message_id=message_id, session_id=session_id, **values, extra=extra_json, created=now)
    return insert_row(c, "runs", row)


def insert_row(c: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
    sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
    return int(c.execute(sql, tuple(row.values())).lastrowid)


def answer_status(stop_reason: Any) -> str:
    """The message status for an engine stop reason: 'complete', 'stopped' or 'error'."""
    reason = str(stop_reason)
    return {"cancelled": "stopped", "error": "error"}.get(reason, "complete")


def run_record(
    stats: Any, info: Any = None, sampler: Any = None, peak_rss: int = 0, engine: str = ""
) -> dict[str, Any]:
    """A runs-table row from a GenerationStats, the loaded ModelInfo and the sampler used."""
    rec: dict[str, Any] = dict(stats.as_dict()) if hasattr(stats, "as_dict") else dict(stats)
    if info is not None:
        keys = ("name", "quant", "n_ctx", "n_threads", "n_gpu_layers")
        rec.update({("model_name" if k == "name" else k): getattr(info, k) for k in keys})
        rec.update(model_path=str(info.path), engine=engine or info.engine)
    if sampler is not None:
        rec["sampler"] = sampler.as_dict() if hasattr(sampler, "as_dict") else dict(sampler)
    if peak_rss:
        rec["peak_rss"] = int(peak_rss)
    try:
        from importlib.metadata import version

        rec["llama_cpp_version"] = version("llama_cpp_python")
    except Exception:
        pass
    return rec
