"""`edgetui compare A B`: one prompt through two models side by side (speed, agreement), or their quality gap."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgetui.commands.common import control, fail, find_model, load_settings, print_json
from edgetui.core.compare.records import compare_to_record  # noqa: F401  (re-exported for saving results later)
from edgetui.core.models.ref import ModelRef


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare two models (e.g. two quantizations) on one prompt, or measure B's quality loss vs A",
        description="Run one prompt through model A and model B with the same sampler and seed (greedy by "
        "default) and report both answers, their speed and where they part; with --text, measure what "
        "llama-perplexity --kl-divergence reports (perplexities, KL(A||B), top-1 agreement, RMS Δp).",
    )
    p.add_argument("model_a", metavar="A", help="reference GGUF file, or a model name from `edgetui models`")
    p.add_argument("model_b", metavar="B", help="GGUF file to compare with A (e.g. a smaller quantization)")
    p.add_argument("--prompt", "-p", help="the user message sent to both models")
    p.add_argument("--system", help="a system message placed before the prompt")
    p.add_argument("--text", metavar="FILE", help="measure quality on this text file ('-' = standard input)")
    p.add_argument("--max-tokens", type=int, default=128, help="tokens to generate per answer (default 128)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed, the same for both (default 0)")
    p.add_argument("--temperature", type=float, default=0.0,
                   help="0 = greedy decoding (default); above 0 samples with the configured settings")  # fmt: skip
    p.add_argument("--concurrent", action="store_true", help="run A and B at the same time (two threads)")
    p.add_argument("--chunk", type=int, default=512, help="quality: tokens per chunk, as llama-perplexity -c")
    # SUPPRESS: `edgetui --ctx 2048 compare ...` keeps the top-level value instead of being reset here.
    p.add_argument("--ctx", type=int, default=argparse.SUPPRESS, help="context size for the answers")
    p.add_argument("--threads", type=int, default=argparse.SUPPRESS, help="CPU threads per model")
    p.add_argument("--gpu-layers", type=int, default=argparse.SUPPRESS, help="layers on the GPU (-1 all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.types import EngineError

    if not args.prompt and not args.text:
        return fail("nothing to do: give --prompt TEXT (answers side by side) and/or --text FILE (quality)", 2)
    if args.max_tokens <= 0 or args.chunk < 16:
        return fail("--max-tokens must be positive and --chunk at least 16", 2)
    try:
        paths, config = load_settings(n_ctx=getattr(args, "ctx", None), n_threads=getattr(args, "threads", None),
                                      n_gpu_layers=getattr(args, "gpu_layers", None))  # fmt: skip
    except ConfigError as exc:
        return fail(str(exc))
    try:
        model_a, model_b = (find_model(name, paths, config) for name in (args.model_a, args.model_b))
        text = _read_text(args.text) if args.text else None
    except ValueError as exc:
        return fail(str(exc))
    try:
        if args.prompt:
            return _run_prompt(args, config, model_a, model_b, text)
        return _run_quality(args, config, model_a, model_b, text or "")
    except EngineError as exc:
        return fail(str(exc))


def _load_options(config: Any) -> Any:
    from edgetui.core.types import LoadOptions

    ngl = config.n_gpu_layers
    if ngl == -2:  # auto: every layer when llama.cpp was built with a GPU backend
        import llama_cpp

        ngl = -1 if llama_cpp.llama_supports_gpu_offload() else 0
    return LoadOptions(n_ctx=config.n_ctx, n_threads=config.threads, n_gpu_layers=ngl)


def _sampler(args: argparse.Namespace, config: Any) -> Any:
    from dataclasses import replace

    from edgetui.core.types import SamplerSettings

    if args.temperature <= 0:
        return SamplerSettings.greedy(max_tokens=args.max_tokens, seed=args.seed)
    return replace(config.sampler, temperature=args.temperature, seed=args.seed, max_tokens=args.max_tokens)


def _run_prompt(args: argparse.Namespace, config: Any, model_a: ModelRef, model_b: ModelRef, text: str | None) -> int:
    from edgetui.core.compare.compare import Compare
    from edgetui.core.types import ChatMessage

    messages = ([ChatMessage("system", args.system)] if args.system else []) + [ChatMessage("user", args.prompt)]
    live = not args.json and sys.stdout.isatty() and not args.concurrent
    with Compare(model_a, model_b, sampler=_sampler(args, config), load_options=_load_options(config),
                 concurrent=args.concurrent, on_event=_printer() if live else None,
                 endpoints=config.endpoints) as cmp:  # fmt: skip
        result = cmp.run(messages)
        if text is not None:
            cmp.measure_quality(text, n_ctx=args.chunk, progress=_progress(args))
    if args.json:
        print_json(result.to_dict())
        return 0
    if not live:
        for side in (result.a, result.b):
            print(f"── {side.side.upper()}: {side.name} [{side.quant}]\n{side.answer}\n")
    print(_speed_table(result))
    ag = result.agreement
    if ag is not None:
        where = (
            "identical answers"
            if ag.first_divergence is None
            else (f"B departs from A at token {ag.first_divergence} (character {ag.char_offset_a})")
        )
        print(
            f"\nagreement: {ag.identical_share:.0%} identical tokens ({ag.identical_tokens} of "
            f"{max(ag.tokens_a, ag.tokens_b)}); {where}" + ("" if ag.greedy else " [sampled, not greedy]")
        )
    print(f"memory: {result.memory_mode}")
    for note in result.notes:
        print(f"note: {note}")
    if result.quality is not None:
        print()
        _print_quality(result.quality)
    return 0


def _run_quality(args: argparse.Namespace, config: Any, model_a: ModelRef, model_b: ModelRef, text: str) -> int:
    from edgetui.core.compare.quality import Quality

    if model_a.is_remote or model_b.is_remote:
        from edgetui.core.compare.compare import NO_REMOTE_LOGITS
        from edgetui.core.types import EngineError

        raise EngineError(NO_REMOTE_LOGITS)
    opts = _load_options(config)
    q = Quality(model_a.path, model_b.path, n_ctx=args.chunk, n_threads=opts.n_threads, n_gpu_layers=opts.n_gpu_layers)
    report = q.run(text, progress=_progress(args))
    if args.json:
        print_json(report.to_dict())
    else:
        _print_quality(report)
    return 0


def _print_quality(r: Any) -> None:
    print(
        f"quality of B against A: {r.text_tokens} tokens, {r.n_chunks} chunks of {r.n_ctx}, "
        f"{r.scored} scored ({r.mode})"
    )
    print(f"  PPL(A) {r.ppl_a:.4f}   PPL(B) {r.ppl_b:.4f}   PPL(B)/PPL(A) {r.ppl_ratio:.4f}")
    print(
        f"  KL(A||B) mean {r.kl_mean:.6f} ± {r.kl_stderr:.6f}   median {r.kl_median:.6f}   "
        f"99% {r.kl_p99:.6f}   max {r.kl_max:.6f}"
    )
    print(f"  same top-1 {r.top1_agree:.2%}   RMS Δp {r.rms_dp:.3%}   mean Δp {r.mean_dp:+.3%}")
    for note in r.notes:
        print(f"  note: {note}")  # fmt: skip


def _speed_table(result: Any) -> str:
    from edgetui.core.compare.export import BYTES
    from edgetui.core.units import format_bytes

    def cell(value: Any, scale: float, fmt: str) -> str:
        if value is None:
            return "-"
        return format_bytes(value) if fmt == BYTES else fmt.format(value * scale if scale != 1 else value)

    rows = [
        ("file size", "file_size_bytes", 1, BYTES),
        ("bits per weight", "bits_per_weight", 1, "{:.2f}"),
        ("load (s)", "load_s", 1, "{:.2f}"),
        ("RSS increase", "rss_delta_bytes", 1, BYTES),
        ("first token (s)", "ttft_s", 1, "{:.3f}"),
        ("prompt tok/s", "prompt_tps", 1, "{:,.1f}"),
        ("generation tok/s", "gen_tps", 1, "{:,.1f}"),
        ("tokens generated", "gen_tokens", 1, "{:d}"),
    ]
    deltas = result.deltas
    lines = [f"{'':20}{'A':>12}{'B':>12}{'B vs A':>10}"]
    for label, key, k, fmt in rows:
        d = deltas[key]
        a, b = (cell(d[s], k, fmt) for s in ("a", "b"))
        ratio = f"{d['ratio']:.2f}x" if d["ratio"] is not None else "-"
        lines.append(f"{label:20}{a:>12}{b:>12}{ratio:>10}")
    return "\n".join(lines)  # fmt: skip


def _printer() -> Any:
    def on_event(side: str, kind: str, payload: Any) -> None:
        if kind == "loading":
            print(f"── {side.upper()}: loading {ModelRef.parse(payload['path']).name}", file=sys.stderr)
        elif kind == "loaded":
            print(f"── {side.upper()}: {payload.name} [{payload.quant}]")
        elif kind == "chunk":
            sys.stdout.write(payload.text)
            sys.stdout.flush()
        elif kind == "finished":
            print("\n")

    return on_event


def _progress(args: argparse.Namespace) -> Any:
    if args.json or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        control(sys.stderr, "\r\x1b[K")
        sys.stderr.write(f"quality: {done}/{total} tokens" + ("\n" if done >= total else ""))
        sys.stderr.flush()

    return show


def _read_text(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    path = Path(name).expanduser()
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
