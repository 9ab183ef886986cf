"""`edgetui bench`: llama-bench's pp/tg speed table for a GGUF model, measured in-process with llama-cpp-python."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgetui.commands.common import control, fail, gpu_layers_arg, load_settings, model_arg, print_json


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure prompt (pp) and generation (tg) speed like llama-bench",
        description="Measure prompt processing (ppN) and generation (tgN) speed in tokens/s, the way llama.cpp's "
        "llama-bench does: a warm-up run, then REPS timed runs of random tokens on an empty KV cache.",
    )
    p.add_argument(
        "bench_model",
        nargs="?",
        metavar="MODEL",
        help="GGUF file (default: --model, the configured model, or the bundled SmolLM2)",
    )
    p.add_argument(
        "-p",
        "--n-prompt",
        default="512",
        metavar="N[,N...]",
        help="prompt tokens for the pp test(s); 0 skips (default 512)",
    )
    p.add_argument(
        "-n",
        "--n-gen",
        default="128",
        metavar="N[,N...]",
        help="generated tokens for the tg test(s); 0 skips (default 128)",
    )
    p.add_argument(
        "-r",
        "--reps",
        type=int,
        default=5,
        help="timed repetitions of each test (default 5); with --app-overhead, the fewest raw/app pairs",
    )
    # SUPPRESS: `edgetui --threads 4 bench` keeps the top-level value instead of being reset by this parser.
    p.add_argument("-t", "--threads", type=int, default=argparse.SUPPRESS, help="CPU threads (default: physical cores)")
    p.add_argument(
        "-ngl",
        "--gpu-layers",
        type=int,
        default=argparse.SUPPRESS,
        help="layers to offload to the GPU (-1 all; default: all when the build has a GPU backend)",
    )
    p.add_argument("-b", "--batch-size", type=int, default=2048, help="logical batch size (default 2048)")
    p.add_argument("-ub", "--ubatch-size", type=int, default=512, help="physical batch size (default 512)")
    p.add_argument("--json", action="store_true", help="print the results as a JSON list")
    # ---- hook for the app-overhead benchmark (edgetui/ui/bench_app.py, not part of the core) ----
    p.add_argument(
        "--app-overhead",
        action="store_true",
        help="also measure the TUI's own overhead on streaming (edgetui.ui.bench_app)",
    )
    p.add_argument(
        "--max-pairs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="with --app-overhead: take raw/app pairs beyond --reps until the app/raw ratios' quartiles are within "
        "--spread of their median, at most N pairs (default: what fits ~5 minutes, 22 at -n 256, 9 at -n 1024)",
    )
    p.add_argument(
        "--turns",
        type=_positive_int,
        default=200,
        metavar="N",
        help="with --app-overhead: the turns of the session whose memory growth is measured (default 200)",
    )
    p.add_argument(
        "--spread",
        type=_fraction,
        default=None,
        metavar="FRACTION",
        help="with --app-overhead: the quartiles' largest distance from the median, as a fraction (default 0.03)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.types import EngineError

    try:
        paths, cfg = load_settings(n_threads=getattr(args, "threads", None))
    except ConfigError as exc:
        return fail(str(exc))
    if getattr(args, "app_overhead", False):
        return _run_app_overhead(args)
    try:
        tests = _tests(args.n_prompt, args.n_gen)
    except ValueError as exc:
        return fail(str(exc), 2)
    if not tests:
        return fail("nothing to measure: both -p and -n are 0", 2)
    try:
        model = model_arg(args.bench_model or getattr(args, "model", None), cfg)
    except ValueError as exc:
        return fail(str(exc))
    if model is None:
        return fail("no model given and the bundled default model is not installed (`make setup`)")
    threads = cfg.threads
    ngl = gpu_layers_arg(getattr(args, "gpu_layers", None), cfg.n_gpu_layers)

    from edgetui.core.tools.bench import markdown_table, run_bench

    progress = _print_progress if sys.stderr.isatty() and not args.json else None
    try:
        results = run_bench(
            model,
            n_threads=threads,
            n_gpu_layers=ngl,
            tests=tests,
            reps=args.reps,
            progress=progress,
            n_batch=args.batch_size,
            n_ubatch=args.ubatch_size,
        )
    except EngineError as exc:
        return fail(str(exc))
    finally:
        if progress is not None:
            control(sys.stderr, "\r\x1b[K")
            sys.stderr.flush()
    _save(results, cfg.db_path(paths))
    if args.json:
        print_json([r.as_dict() for r in results])
    else:
        print(markdown_table(results))
        if results:
            print(f"\n{results[0].engine}, {results[0].model_name} ({results[0].model_path})")
    return 0


def _save(results: list[Any], db: Path) -> None:
    """Keep the results in the sessions database, next to the ones the TUI's benchmark screen shows."""
    from edgetui.core.store.store import Store, StoreError

    store = Store.open(db)
    try:
        for r in results:
            store.add_benchmark({**r.as_dict(), "reps": len(r.samples)})
    except StoreError as exc:
        print(f"edgetui: results not saved: {exc}", file=sys.stderr)
    finally:
        store.close()


def _tests(n_prompt: str, n_gen: str) -> list[str]:
    tests = [f"pp{n}" for n in _ints(n_prompt, "-p") if n > 0]
    tests += [f"tg{n}" for n in _ints(n_gen, "-n") if n > 0]
    return tests


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes whole numbers separated by commas, not {text!r}") from None
    if any(v < 0 for v in values):
        raise ValueError(f"{flag} cannot be negative")
    return values


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (0.03 is ±3 %), not {text}")
    return value


def _print_progress(message: str, done: int, total: int) -> None:
    control(sys.stderr, "\r\x1b[K")
    sys.stderr.write(f"bench {done}/{total}: {message}")
    sys.stderr.flush()


def _run_app_overhead(args: argparse.Namespace) -> int:
    """`--app-overhead` drives the whole app (edgetui.ui.bench_app): imported here, as the UI is only for it."""
    from edgetui.ui.bench_app import run_app_overhead

    return int(run_app_overhead(args) or 0)
