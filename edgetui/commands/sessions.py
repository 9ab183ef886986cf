"""`edgetui sessions`: list, search, delete and import saved chat sessions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgetui.commands.common import fail, load_settings, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "sessions",
        help="list or search saved chat sessions",
        description="List saved chat sessions, newest first, or search their messages.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--search", metavar="Q", help="full-text search in every message")
    p.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--delete", type=int, metavar="ID", help="delete session ID with its messages and runs")
    p.add_argument("--import", dest="import_file", metavar="FILE", help="import a JSON export as a new session")
    p.add_argument("--db", default=argparse.SUPPRESS, help="sessions database file")
    p.set_defaults(func=run)


def open_store(args: argparse.Namespace, write: bool = False) -> Any:
    """The Store named by --db or the config (its notice, if any, goes to stderr). Without `write`, read-only: a
    listing never migrates, locks or moves the file, and another process writing it does not hold it up."""
    import sys

    from edgetui.core.store.store import Store

    paths, config = load_settings(db=getattr(args, "db", None))
    store = Store.open(config.db_path(paths), read_only=not write)
    if store.notice:
        print(f"edgetui: {store.notice}", file=sys.stderr)
    return store


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.store.store import StoreError

    try:
        store = open_store(args, write=bool(args.import_file) or args.delete is not None)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        if args.import_file:
            return _import(store, Path(args.import_file).expanduser(), args.json)
        if args.delete is not None:
            if not store.delete_session(args.delete):
                return fail(f"there is no session {args.delete}")
            print(f"deleted session {args.delete}")
            return 0
        if args.search:
            return _search(store, args.search, args.limit, args.json)
        return _list(store, args.limit, args.json)
    except StoreError as exc:
        return fail(str(exc))
    finally:
        store.close()


def _list(store: Any, limit: int, as_json: bool) -> int:
    sessions = store.list_sessions(limit=limit)
    if as_json:
        print_json([s.as_dict() for s in sessions])
        return 0
    if not sessions:
        print("No saved sessions yet.")
        return 0
    print(f"{'ID':>5}  {'UPDATED':16}  {'MSGS':>4}  {'MODEL':24}  TITLE")
    for s in sessions:
        kind = " [compare]" if s.kind == "compare" else ""
        print(
            f"{s.id:>5}  {_when(s.updated):16}  {s.message_count:>4}  {_cut(s.model_name, 24):24}  "
            f"{s.title or '(untitled)'}{kind}"
        )
    return 0


def _search(store: Any, query: str, limit: int, as_json: bool) -> int:
    hits = store.search(query, limit=limit)
    if as_json:
        print_json(hits)
        return 0
    if not hits:
        print(f"No message matches {query!r}.")
        return 0
    for h in hits:
        snippet = " ".join(h["snippet"].split())
        print(f"session {h['session_id']:>4}  #{h['message_id']:<5} {h['role']:9} {snippet}")
    return 0


def _import(store: Any, path: Path, as_json: bool) -> int:
    from edgetui.core.store.export import import_session_json

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {path}: {exc}")
    sid = import_session_json(store, text)
    if as_json:
        print_json({"session_id": sid})
    else:
        print(f"imported {path.name} as session {sid}")
    return 0


def _when(iso: str) -> str:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
