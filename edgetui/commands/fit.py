"""`edgetui fit MODEL`: the memory a model needs at a context size, and whether this machine has it."""

from __future__ import annotations

import argparse
from typing import Any

from edgetui.commands.common import fail, find_model, load_settings, print_json


def register(subparsers: Any) -> None:
    from edgetui.core.models.fit import KV_TYPE_BYTES

    p = subparsers.add_parser(
        "fit",
        help="estimate whether a model fits in RAM/VRAM",
        description="Predict the RAM and VRAM a GGUF model needs (weights, KV cache, compute buffers) "
        "and compare it with what is free now.",
    )
    p.add_argument("model", metavar="MODEL", help="a GGUF file, or a model name from `edgetui models`")
    p.add_argument("--ctx", type=int, default=argparse.SUPPRESS, help="context size in tokens (default 4096)")
    p.add_argument("--gpu-layers", type=int, default=argparse.SUPPRESS,
                   help="layers on the GPU: -1 all, -2 auto (default)")  # fmt: skip
    p.add_argument("--kv-type", choices=sorted(KV_TYPE_BYTES), default="f16", help="KV cache type (default f16)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.gguf.read import GGUFError, read_model
    from edgetui.core.models.fit import estimate_fit, probe_resources
    from edgetui.core.units import format_bytes

    try:
        paths, config = load_settings(n_ctx=getattr(args, "ctx", None),
                                      n_gpu_layers=getattr(args, "gpu_layers", None))  # fmt: skip
    except ConfigError as exc:
        return fail(str(exc))
    if config.n_ctx <= 0:
        return fail(f"--ctx must be a positive number of tokens, got {config.n_ctx}")
    try:
        path = find_model(args.model, paths, config).path
        header = read_model(path)
    except (ValueError, GGUFError) as exc:  # GGUFError is a ValueError with the reason for the user
        return fail(str(exc))
    resources = probe_resources()
    est = estimate_fit(header, config.n_ctx, config.n_gpu_layers, resources, kv_type=args.kv_type)
    if args.json:
        print_json({"model": str(path), "name": header.display_name, "n_params": header.n_params,
                    "quant": header.quant, "context_length": header.context_length, **est.as_dict()})  # fmt: skip
        return 0
    print(f"{header.display_name} ({path})")
    print(f"  {header.n_params / 1e6:,.0f}M params, {header.quant}, {header.bits_per_weight:.2f} bits/weight, "
          f"{header.block_count} layers, trained context {header.context_length}")  # fmt: skip
    print(f"  n_ctx {est.n_ctx}, {est.n_gpu_layers} of {est.n_layers + 1} layers on the GPU, KV cache {args.kv_type}")
    print(f"  {'':10}{'RAM':>12}{'VRAM':>12}")
    b = est.breakdown()
    for key in ("weights", "kv_cache", "compute", "overhead", "total", "available"):
        print(f"  {key:10}{format_bytes(b['ram'][key]):>12}{format_bytes(b['vram'][key]):>12}")
    print(f"  verdict: {est.verdict}" + (f" ({est.reason})" if est.reason else ""))
    for note in est.notes:
        print(f"  note: {note}")
    return 0
