"""`edgetui quantize MODEL TYPE`: make another quantization of a GGUF model with llama.cpp's quantizer."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgetui.commands.common import fail, find_model, load_settings, print_json


def register(subparsers: Any) -> None:
    from edgetui.core.tools.quantize import OFFERED

    p = subparsers.add_parser(
        "quantize",
        help="make another quantization of a GGUF model",
        description="Quantize a GGUF model to another type with llama.cpp's own quantizer (in a child "
        "process). The new file goes beside the source, or into the edgetui models dir when that folder "
        f"is not writable. Types that need no importance matrix: {', '.join(OFFERED)}.",
    )
    p.add_argument("model", metavar="MODEL", help="a GGUF file, a model name from `edgetui models`, or 'default'")
    p.add_argument("qtype", metavar="TYPE", help="target type, e.g. Q4_K_M, Q8_0, Q2_K")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: beside the source)")
    p.add_argument("--threads", type=int, default=argparse.SUPPRESS, help="quantizer threads (default: cores)")
    p.add_argument("--force", action="store_true", help="overwrite OUT when it exists")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.commands.pull import ProgressLine
    from edgetui.config import ConfigError
    from edgetui.core.gguf.read import GGUFError, read_header
    from edgetui.core.tools.quantize import default_output, quantize_with_progress, requantize_check
    from edgetui.core.types import EngineError
    from edgetui.core.units import format_bytes

    try:
        paths, config = load_settings(n_threads=getattr(args, "threads", None))
    except ConfigError as exc:
        return fail(str(exc))
    try:
        src = find_model(args.model, paths, config).path
    except ValueError as exc:
        return fail(str(exc))
    qtype = args.qtype.upper()
    out = Path(args.output).expanduser() if args.output else default_output(src, qtype, paths.models_dir)
    if out.exists() and not args.force:
        return fail(f"{out} exists; use --force to overwrite it or -o to choose another file")
    try:
        source_quant = read_header(src).quant
    except GGUFError:
        source_quant = ""  # quantize_with_progress says what is wrong with the file
    check = requantize_check(src.name, source_quant, qtype)
    if check.note:  # the quantization still runs: the note says what it can give
        print(f"{'warning' if check.bigger else 'note'}: {check.note}", file=sys.stderr)
    progress = None if args.quiet else ProgressLine(f"{src.name} -> {qtype}")
    try:
        dst = quantize_with_progress(src, out, qtype, progress, n_threads=config.threads)
    except KeyboardInterrupt:
        if progress:
            progress.close()
        print("interrupted: the partial file was removed", file=sys.stderr)
        return 130
    except EngineError as exc:
        if progress:
            progress.close()
        return fail(str(exc))
    if progress:
        progress.close()
    src_size, dst_size = src.stat().st_size, dst.stat().st_size
    if args.json:
        print_json({"source": str(src), "output": str(dst), "type": qtype, "source_bytes": src_size,
                    "output_bytes": dst_size, "ratio": round(dst_size / src_size, 4)})  # fmt: skip
    else:
        print(f"{dst}  {format_bytes(dst_size)} ({dst_size / src_size:.0%} of {src.name}, {format_bytes(src_size)})")
    return 0
