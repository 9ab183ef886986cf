"""Compare `edgetui bench` (pp/tg) with raw llama-cpp-python streaming and, when built, llama.cpp's llama-bench.

Usage: .venv/bin/python bench/bench_llama.py [--model GGUF] [--threads 2] [--reps 5] [--rounds 3]
                                             [--llama-bench PATH] [--json]

Each round runs, one after the other on the same model and thread count:
  1. llama-bench -p 512 -n 128 (if a llama-bench binary is found: --llama-bench, $LLAMA_BENCH, PATH, /tmp/lb/bin)
  2. edgetui's run_bench pp512 + tg128 (edgetui.core.tools.bench, the code behind `edgetui bench`)
  3. raw llama-cpp-python: Llama.generate() streaming 128 tokens (greedy sampling included), tokens/s between
     the first and the last token
The medians (or, with --stat max, the best) over the rounds are printed with the ratios to llama-bench.
Rounds interleave the tools so that a change of machine load hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgetui.core.models.default import default_model_path  # noqa: E402
from edgetui.core.tools.bench import mean_std, run_bench  # noqa: E402


def find_llama_bench(explicit: str | None) -> Path | None:
    for candidate in (explicit, os.environ.get("LLAMA_BENCH"), shutil.which("llama-bench"), "/tmp/lb/bin/llama-bench"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def llama_bench(binary: Path, model: Path, threads: int, reps: int, n_prompt: int, n_gen: int) -> dict[str, float]:
    """{'pp512': t/s, 'tg128': t/s} from llama-bench's JSON output."""
    cmd = [str(binary), "-m", str(model), "-t", str(threads), "-p", str(n_prompt), "-n", str(n_gen),
           "-r", str(reps), "-o", "json"]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result = {}
    for row in json.loads(out):
        name = f"pp{row['n_prompt']}" if row["n_prompt"] else f"tg{row['n_gen']}"
        result[name] = float(row["avg_ts"])
        result[name + "_std"] = float(row["stddev_ts"])
        result["model"] = row.get("model_type", "")
    return result


def edgetui_bench(model: Path, threads: int, reps: int, n_prompt: int, n_gen: int) -> dict[str, float]:
    result: dict[str, float] = {}
    for r in run_bench(model, n_threads=threads, n_gpu_layers=0, tests=(f"pp{n_prompt}", f"tg{n_gen}"), reps=reps):
        result[r.test] = r.tps_mean
        result[r.test + "_std"] = r.tps_std
        result["model"] = r.model  # type: ignore[assignment]
    return result


def raw_stream(model: Path, threads: int, reps: int, n_gen: int) -> dict[str, float]:
    """Llama.generate(): sample + decode one token at a time, as a streaming app does without any UI."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(model), n_ctx=512, n_threads=threads, n_threads_batch=threads,
                          n_gpu_layers=0, verbose=False)  # fmt: skip
    prompt = llm.tokenize(b"Once upon a time, in a small village by the sea,", add_bos=True)
    rates = []
    try:
        for rep in range(reps + 1):  # the first is a warm-up
            times = []
            for _ in llm.generate(prompt, temp=0.0, top_k=1, reset=True):
                times.append(time.perf_counter())
                if len(times) == n_gen:
                    break
            if rep > 0:
                rates.append((len(times) - 1) / (times[-1] - times[0]))
    finally:
        llm.close()
    mean, std = mean_std(rates)
    return {f"tg{n_gen}": mean, f"tg{n_gen}_std": std}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="GGUF file (default: the bundled SmolLM2-135M-Instruct Q4_1)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("--llama-bench", help="path of a llama-bench binary")
    ap.add_argument(
        "--stat",
        choices=("median", "max"),
        default="median",
        help="summary over rounds: median, or max (best round: nearest the unloaded speed on a busy machine)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    model = Path(args.model) if args.model else default_model_path()
    if model is None or not model.is_file():
        print("no model: pass --model or install the default one (make setup)", file=sys.stderr)
        return 1
    binary = find_llama_bench(args.llama_bench)
    pp, tg = f"pp{args.n_prompt}", f"tg{args.n_gen}"
    rounds: list[dict[str, dict[str, float]]] = []
    for i in range(args.rounds):
        row: dict[str, dict[str, float]] = {}
        if binary:
            row["llama-bench"] = llama_bench(binary, model, args.threads, args.reps, args.n_prompt, args.n_gen)
        row["edgetui bench"] = edgetui_bench(model, args.threads, args.reps, args.n_prompt, args.n_gen)
        row["llama-cpp-python generate()"] = raw_stream(model, args.threads, args.reps, args.n_gen)
        rounds.append(row)
        if not args.json:
            cells = "  ".join(f"{name}: {_fmt(v, pp)} / {_fmt(v, tg)}" for name, v in row.items())
            print(f"round {i + 1}: ({pp} / {tg} t/s)  {cells}", flush=True)

    summary = {}
    stat = statistics.median if args.stat == "median" else max
    for name in rounds[0]:
        summary[name] = {key: stat(r[name][key] for r in rounds) for key in (pp, tg) if key in rounds[0][name]}
    if args.json:
        print(json.dumps({"model": str(model), "threads": args.threads, "reps": args.reps, "rounds": rounds,
                          args.stat: summary}, indent=2, default=str))  # fmt: skip
        return 0
    ref = summary.get("llama-bench")
    print(f"\n{args.stat} of {args.rounds} rounds, {args.reps} reps each, {args.threads} threads, {model.name}")
    print(f"| tool | {pp} t/s | {tg} t/s | {pp} vs llama-bench | {tg} vs llama-bench |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, values in summary.items():
        ratios = [f"{values[k] / ref[k]:.3f}" if ref and k in values and k in ref and ref[k] else "-" for k in (pp, tg)]
        print(f"| {name} | {_fmt(values, pp)} | {_fmt(values, tg)} | {ratios[0]} | {ratios[1]} |")
    if binary is None:
        print("\n(llama-bench not found: pass --llama-bench PATH to compare with it)")
    return 0


def _fmt(values: dict[str, float], key: str) -> str:
    return f"{values[key]:.1f}" if key in values else "-"


if __name__ == "__main__":
    raise SystemExit(main())
