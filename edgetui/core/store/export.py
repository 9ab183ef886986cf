"""Export a stored session as Markdown (with each answer's performance record) or JSON, and import JSON back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from edgetui.core.store.records import insert_row, insert_run, now_iso, to_json
from edgetui.core.store.store import Store, StoreError
from edgetui.core.units import format_bytes

EXPORT_FORMAT = "edgetui-session"
EXPORT_VERSION = 1
FORMATS = ("md", "json")

# (runs column, label, format) for the performance table under each answer.
_PERF_ROWS: tuple[tuple[str, str, str], ...] = (
    ("model_name", "Model", "{}"),
    ("quant", "Quantization", "{}"),
    ("ttft_s", "Time to first token", "{:.3f} s"),
    ("prompt_tokens", "Prompt tokens", "{:d}"),
    ("prompt_eval_tokens", "Prompt tokens evaluated", "{:d}"),
    ("prompt_tps", "Prompt speed", "{:.1f} tok/s"),
    ("gen_tokens", "Generated tokens", "{:d}"),
    ("gen_tps", "Generation speed", "{:.1f} tok/s"),
    ("total_s", "Total time", "{:.2f} s"),
    ("peak_rss", "Peak memory (RSS)", "{}"),
    ("n_ctx", "Context size", "{:d}"),
    ("n_threads", "Threads", "{:d}"),
    ("n_gpu_layers", "GPU layers", "{:d}"),
    ("stop_reason", "Stop reason", "{}"),
    ("error", "Error", "{}"),
    ("engine", "Engine", "{}"),
    ("llama_cpp_version", "llama-cpp-python", "{}"),
)


def export_session(store: Store, session_id: int, fmt: str = "md") -> str:
    """The session as Markdown (its active branch) or JSON (every branch, every run); raises StoreError."""
    if fmt not in FORMATS:
        raise StoreError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    session = store.get_session(session_id)
    if session is None:
        raise StoreError(f"There is no session {session_id}")
    runs = store.runs(session_id=session_id)
    if fmt == "json":
        doc = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "session": session.as_dict(),
            "messages": [m.as_dict() for m in store.messages(session_id)],
            "runs": runs,
            "comparisons": store.list_comparisons(session_id=session_id, limit=10_000),
        }
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    return _markdown(store, session_id, runs)


def _markdown(store: Store, session_id: int, runs: list[dict[str, Any]]) -> str:
    session = store.get_session(session_id)
    assert session is not None
    by_message: dict[int, dict[str, Any]] = {}
    for run in runs:
        by_message[run["message_id"]] = run  # the latest run of each message wins
    out = [f"# {session.title or f'Session {session.id}'}", ""]
    model = session.model_name or "(none)"
    out.append(f"- Model: {model}" + (f" (`{session.model_path}`)" if session.model_path else ""))
    out.append(f"- Created: {session.created}  ·  Updated: {session.updated}")
    if session.sampler:
        out.append("- Sampler: " + ", ".join(f"{k} {v}" for k, v in session.sampler.items()))
    out.append("")
    if session.system_prompt:
        out += ["## System prompt", "", *(f"> {line}" for line in session.system_prompt.splitlines()), ""]
    for msg in store.thread(session_id):
        heading = msg.role.capitalize()
        if msg.role == "assistant" and msg.model:
            heading += f" · {msg.model}"
        siblings = store.siblings(msg.id)
        if len(siblings) > 1:
            heading += f" (version {siblings.index(msg.id) + 1} of {len(siblings)})"
        if msg.status != "complete":
            heading += f" [{msg.status}]"
        out += [f"## {heading}", "", msg.content.rstrip() or "_(empty)_", ""]
        run = by_message.get(msg.id)
        if run:
            out += [*_perf_table(run), ""]
    return "\n".join(out).rstrip() + "\n"


def _perf_table(run: dict[str, Any]) -> list[str]:
    lines = ["| Performance | |", "| --- | --- |"]
    for key, label, fmt in _PERF_ROWS:
        value = run.get(key)
        if value is None or value == "":
            continue
        if key == "peak_rss":
            text = format_bytes(int(value))
        else:
            try:
                text = fmt.format(value)
            except (ValueError, TypeError):
                text = str(value)
        lines.append(f"| {label} | {text.replace('|', '/')} |")
    return lines


def import_session_json(store: Store, text: str) -> int:
    """Import a JSON export as a new session with the same messages, branches and runs; return its id."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"This is not a JSON session export: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
        raise StoreError("This JSON file is not an edgetui session export")
    if int(doc.get("version", 0)) > EXPORT_VERSION:
        raise StoreError(f"This export was written by a newer edgetui (version {doc.get('version')})")
    session, messages, runs = doc.get("session"), doc.get("messages"), doc.get("runs", [])
    if not isinstance(session, dict) or not isinstance(messages, list) or not isinstance(runs, list):
        raise StoreError("This session export is incomplete (no session or messages)")
    try:
        sid = store.write(lambda c: _insert_session(c, session, messages, runs))
    except (KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"This session export is incomplete or malformed ({exc!r})") from exc
    for comp in doc.get("comparisons") or []:
        try:
            store.add_comparison(
                comp["model_a"], comp["model_b"], comp.get("prompt", ""), comp.get("result") or {}, session_id=sid
            )
        except (KeyError, TypeError):
            continue
    return sid


def _insert_session(c: sqlite3.Connection, session: Mapping[str, Any], messages: list[Any], runs: list[Any]) -> int:
    """Insert an exported session as a new one (new ids, the same tree of messages and their runs)."""
    now = now_iso()
    keep = ("title", "created", "updated", "model_path", "model_name", "system_prompt", "kind")
    row = {"created": now, "updated": now, **{k: session[k] for k in keep if session.get(k) is not None}}
    sid = insert_row(c, "sessions", {**row, "sampler": to_json(session.get("sampler"))})
    ids: dict[Any, int] = {}
    for m in sorted(messages, key=lambda m: m["id"]):
        status = m.get("status", "complete")
        new = {
            "session_id": sid,
            "parent_id": ids.get(m.get("parent_id")),
            "role": m["role"],
            "content": m.get("content", ""),
            "status": "interrupted" if status == "streaming" else status,
            "created": m.get("created") or now,
            "updated": m.get("updated") or now,
            "model": m.get("model", ""),
        }
        ids[m["id"]] = insert_row(c, "messages", new)
    for r in runs:
        if r.get("message_id") in ids:
            insert_run(c, ids[r["message_id"]], sid, r, r.get("created") or now)
    current = ids.get(session.get("current_message_id"))
    c.execute("UPDATE sessions SET current_message_id = ? WHERE id = ?", (current, sid))
    return sid
