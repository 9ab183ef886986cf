"""`edgetui models`: every GGUF model found on this machine, with its size, quantization and fit."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from edgetui.commands.common import fail, load_settings, print_json


def register(subparsers: Any) -> None:
    from edgetui.core.models.catalog import SORT_KEYS

    p = subparsers.add_parser(
        "models",
        help="list the GGUF models found on this machine",
        description="List GGUF models in the edgetui models dir, config model_dirs, the Hugging Face cache, "
        "Ollama and LM Studio, with whether each fits in memory.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--ctx", type=int, default=argparse.SUPPRESS, help="context size for the fit column")
    p.add_argument("--sort", choices=SORT_KEYS, default="name", help="sort column (default name)")
    p.add_argument("--filter", default="", metavar="TEXT", help="only models whose name/path contain TEXT")
    p.add_argument("--no-fit", action="store_true", help="skip the fit estimate (no RAM/GPU probe)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.models.catalog import COLUMNS, Catalog, filter_entries, sort_entries

    try:
        paths, config = load_settings(n_ctx=getattr(args, "ctx", None))
    except ConfigError as exc:
        return fail(str(exc))
    if config.n_ctx <= 0:
        return fail(f"--ctx must be a positive number of tokens, got {config.n_ctx}")
    catalog = Catalog(paths, config)
    catalog.scan()
    if not args.no_fit:
        catalog.annotate_fit(config.n_ctx, n_gpu_layers=config.n_gpu_layers)
    entries = sort_entries(filter_entries(catalog.entries, args.filter), args.sort)
    if args.json:
        print_json({
            "n_ctx": config.n_ctx,
            "models": [e.as_dict() for e in entries],
            "skipped": [{"path": p, "reason": r} for p, r in catalog.skipped],
        })  # fmt: skip
        return 0
    if not entries:
        print("No GGUF models found. Put .gguf files in", paths.models_dir, "or add model_dirs to", paths.config_file)
    else:
        print_table(COLUMNS, [e.row() for e in entries])
        bad = sum(1 for e in entries if not e.ok)
        print(f"\n{len(entries)} models ({bad} unreadable); fit at n_ctx={config.n_ctx}" if not args.no_fit
              else f"\n{len(entries)} models ({bad} unreadable)")  # fmt: skip
    for path, reason in catalog.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return 0


def print_table(columns: tuple[str, ...], rows: list[tuple[str, ...]], max_width: int = 48) -> None:
    """A plain aligned text table; cells of every column but the last are cut to `max_width`."""

    def cut(s: str) -> str:
        return s if len(s) <= max_width else s[: max_width - 1] + "…"

    cells = [[cut(c) for c in r[:-1]] + [r[-1]] for r in rows]
    widths = [max(len(columns[i]), *(len(r[i]) for r in cells)) for i in range(len(columns) - 1)]
    for r in [list(columns), *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1])
