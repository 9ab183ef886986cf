"""`edgetui export ID`: write a saved session as Markdown (with performance tables) or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgetui.commands.common import fail


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a saved session as Markdown or JSON",
        description="Export a saved session ('last' = the most recent one).",
    )
    p.add_argument("session", metavar="ID", help="session id (see `edgetui sessions`), or 'last'")
    p.add_argument("--format", "-f", choices=("md", "json"), default="md", help="output format (default md)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--db", default=argparse.SUPPRESS, help="sessions database file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.commands.sessions import open_store
    from edgetui.config import ConfigError
    from edgetui.core.store.export import export_session
    from edgetui.core.store.store import StoreError

    try:
        store = open_store(args)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        if args.session == "last":
            newest = store.list_sessions(limit=1)
            if not newest:
                return fail("there are no saved sessions to export")
            session_id = newest[0].id
        elif args.session.isdigit():
            session_id = int(args.session)
        else:
            return fail(f"session ID must be a number or 'last', not {args.session!r}")
        text = export_session(store, session_id, args.format)
    except StoreError as exc:
        return fail(str(exc))
    finally:
        store.close()
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output).expanduser()
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"wrote session {session_id} to {out}", file=sys.stderr)
    return 0
