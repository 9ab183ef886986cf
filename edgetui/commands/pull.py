"""`edgetui pull REPO[:QUANT]`: search the Hugging Face Hub and download GGUF models into the HF cache."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from edgetui.commands.common import control, fail, print_json
from edgetui.core.units import format_bytes


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pull",
        help="download a GGUF model from the Hugging Face Hub",
        description="Download a GGUF model from the Hugging Face Hub into the shared HF cache (resumable: "
        "run the same command again after an interruption). REPO[:QUANT] picks a quantization, e.g. "
        "bartowski/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M; without one, Q4_K_M or the nearest is taken. "
        "HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured.",
    )
    p.add_argument("spec", nargs="?", metavar="REPO[:QUANT]", help="model repository, optionally :QUANT or :FILE")
    p.add_argument("--list", action="store_true", help="list the repository's GGUF files instead of downloading")
    p.add_argument("--search", metavar="QUERY", help="search the Hub for GGUF repositories instead")
    p.add_argument("--limit", type=int, default=20, help="number of search results (default 20)")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.core.hub.hub import DownloadCancelled, Hub, HubError

    hub = Hub()
    try:
        if args.search is not None:
            return _search(hub, args)
        if not args.spec:
            return fail("name a repository (org/repo[:QUANT]) or use --search QUERY")
        if args.list:
            return _list(hub, args)
        repo_id, hub_file = hub.resolve(args.spec, args.revision)
        progress = None if args.quiet else ProgressLine(f"{repo_id}:{hub_file.quant or hub_file.name}")
        try:
            path = hub.download(repo_id, hub_file, progress, revision=args.revision)
        except KeyboardInterrupt:
            if progress:
                progress.close()
            print("interrupted: run the same command again to resume the download", file=sys.stderr)
            return 130
        if progress:
            progress.close()
    except DownloadCancelled as exc:
        return fail(str(exc))
    except HubError as exc:
        return fail(str(exc))
    if args.json:
        print_json({"repo": repo_id, **hub_file.as_dict(), "path": str(path)})
    else:
        print(path)
    return 0


def _search(hub: Any, args: argparse.Namespace) -> int:
    repos = hub.search(args.search, limit=max(1, args.limit))
    if args.json:
        print_json([r.as_dict() for r in repos])
        return 0
    if not repos:
        print(f"No GGUF repositories match {args.search!r}")
        return 0
    from edgetui.commands.models import print_table

    rows = [(r.repo_id, f"{r.downloads:,}", f"{r.likes:,}", r.updated.date().isoformat() if r.updated else "",
             "gated" if r.gated else "") for r in repos]  # fmt: skip
    print_table(("REPO", "DOWNLOADS", "LIKES", "UPDATED", ""), rows, max_width=64)
    return 0


def _list(hub: Any, args: argparse.Namespace) -> int:
    from edgetui.core.hub.files import parse_spec

    repo_id, _ = parse_spec(args.spec)
    files = hub.list_gguf_files(repo_id, args.revision)
    if args.json:
        print_json({"repo": repo_id, "files": [f.as_dict() for f in files]})
        return 0
    if not files:
        print(f"{repo_id} has no GGUF files")
        return 0
    from edgetui.commands.models import print_table

    rows = [(f.quant or "?", format_bytes(f.size), f"{len(f.parts)} parts" if f.split else "",
             f.kind if f.kind != "model" else "", f.name) for f in files]  # fmt: skip
    print_table(("QUANT", "SIZE", "SPLIT", "KIND", "FILE"), rows)
    return 0


class ProgressLine:
    """A progress callback (done, total) that draws one line on stderr: redrawn on a terminal, every 10% else."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self.start = -1
        self.last_step = -1
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.start < 0:
            self.start, self.t0 = done, now
        pct = 100 * done / total if total else 0.0
        rate = (done - self.start) / (now - self.t0) if now > self.t0 else 0.0
        text = f"{self.label}  {pct:5.1f}%  {format_bytes(done)} / {format_bytes(total)}  {format_bytes(rate)}/s"
        if self.tty:
            control(self.stream, "\r")
            self.stream.write(text.ljust(78))
            self.drawn = True
        elif int(pct // 10) != self.last_step:
            self.last_step = int(pct // 10)
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
