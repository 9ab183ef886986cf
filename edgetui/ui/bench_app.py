"""`edgetui bench --app-overhead`: tokens/s in the TUI (driven headless) against raw llama-cpp-python, and more."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgetui.core.tools.pair_stats import (
    MIN_PAIRS_FOR_SPREAD,
    SPREAD_TARGET,
    PairSpread,
    need_more_pairs,
    pair_ratios,
    pair_spread,
)

PROMPT = "Write a long story about a dragon who learns to bake bread. Use many paragraphs."
SIZE = (100, 30)
# --max-pairs when not given (default_max_pairs): as many pairs as fit PAIRS_BUDGET_S on the 2-core development VM,
# where a pair costs ~7.5 s besides its three answers (typing the prompt through Pilot ~5 s, three prompt reads, a new
# session) and each answer streams at ~130 tok/s. The rest of a run (the key-press run, the start-up timing, the
# 200-turn session) takes 4-5 minutes, so a whole run stays under ~10 minutes.
PAIRS_BUDGET_S = 300.0
PAIR_SETUP_S = 7.5
EXPECTED_TPS = 130.0


def raw_run(llm: Any, messages: list[dict[str, str]], max_tokens: int) -> dict[str, float]:
    """Stream with plain llama-cpp-python (greedy, seed 0) and time it like the app does."""
    stream = llm.create_chat_completion(
        messages=messages,
        stream=True,
        temperature=0.0,
        top_k=1,
        top_p=1.0,
        min_p=0.0,
        repeat_penalty=1.0,
        seed=0,
        max_tokens=max_tokens,
    )
    times = [time.perf_counter() for part in stream if part["choices"][0]["delta"].get("content")]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return {"tokens": len(times), "tps": (len(times) - 1) / span if span > 0 else 0.0}


def engine_run(engine: Any, sampler: Any) -> float:
    """The app's engine without the UI (same loaded model and sampler): what the UI costs is app / engine."""
    from edgetui.core.types import ChatMessage

    gen = engine.stream_chat([ChatMessage("user", PROMPT)], sampler)
    gen.run()
    return gen.stats.gen_tps


async def app_runs(
    model: Path,
    threads: int,
    max_tokens: int,
    min_pairs: int,
    raw: Any,
    engine_process: bool = False,
    *,
    max_pairs: int | None = None,
    target: float = SPREAD_TARGET,
    progress: Callable[[list[float]], None] | None = None,
) -> dict[str, Any]:
    """Alternate raw and app runs in one process; the app is the real one, driven by Textual's test driver.

    Pairs (raw, engine, app) are taken until the stopping rule (`edgetui.core.tools.pair_stats.need_more_pairs`) is met:
    at least `min_pairs`, then more while the app/raw ratios' quartiles are wider than `target` around their
    median, up to `max_pairs` (default: `min_pairs`, i.e. a fixed count). Then one more app run times key presses."""
    max_pairs = max(min_pairs, max_pairs or min_pairs)
    from textual import events

    from edgetui.config import Config
    from edgetui.core.engines.llama_thread import LlamaThread
    from edgetui.core.store.store import Store
    from edgetui.core.types import SamplerSettings
    from edgetui.paths import Paths
    from edgetui.ui.app import create_app

    paths = Paths.from_env().ensure()
    config = Config(n_ctx=4096, n_threads=threads, engine_process=engine_process)
    app = create_app(config, paths, store=Store.memory(), model_path=model)
    app.sampler = SamplerSettings.greedy(max_tokens=max_tokens, seed=0)
    shown: list[tuple[float, int]] = []
    add = app.token_rate_add

    def record(t: float, tokens: int) -> None:  # runs on the UI thread as each batch reaches the screen
        shown.append((time.perf_counter(), tokens))
        add(t, tokens)

    app.token_rate_add = record  # type: ignore[method-assign]
    stats: list[Any] = []
    done = app.generation_finished
    finished = asyncio.Event()

    def keep(gen_stats: Any) -> None:
        stats.append(gen_stats)
        done(gen_stats)
        finished.set()

    app.generation_finished = keep  # type: ignore[method-assign]
    result: dict[str, Any] = {"raw": [], "engine": [], "app": [], "shown": [], "updates_per_s": [], "key_ms": []}
    async with app.run_test(size=SIZE) as pilot:
        while app.engine.info is None:
            await pilot.pause(0.05)

        async def answer(measure_keys: bool) -> None:
            await app.chat.new_session(app.new_conversation())
            shown.clear()
            stats.clear()
            finished.clear()
            if measure_keys:  # a longer answer
                from dataclasses import replace

                app.sampler = replace(app.sampler, max_tokens=max(max_tokens, 1024))
            await pilot.press(*PROMPT)
            # Enter as the terminal driver sends it: Pilot's press would then poll until the app is idle, work on
            # the UI thread that a user's app does not do.
            app.post_message(events.Key("enter", None))
            while not app.chat.generating:
                await asyncio.sleep(0.001)
            if measure_keys:
                result["key_ms"].extend(await key_latencies(app))
                return
            while app.chat.generating:  # woken by the answer's end: polling would be UI-thread work too
                try:
                    await asyncio.wait_for(finished.wait(), 1.0)
                except TimeoutError:
                    pass
            app.chat.query_one("#prompt").clear()
            result["app"].append(stats[-1].gen_tps if stats else 0.0)
            if len(shown) > 1:
                span = shown[-1][0] - shown[0][0]
                result["shown"].append(sum(n for _, n in shown[1:]) / span if span > 0 else 0.0)
                result["updates_per_s"].append((len(shown) - 1) / span if span > 0 else 0.0)

        t0 = time.perf_counter()
        while len(result["raw"]) < max_pairs and need_more_pairs(
            pair_ratios(result["app"], result["raw"]), min_pairs, max_pairs, target
        ):
            # On the app's llama thread: llama.cpp slows down ~4x while a second thread that has used its
            # OpenMP team is alive (see edgetui.core.engines.llama_thread), which would make either side look slow.
            msgs = [{"role": "user", "content": PROMPT}]
            call = LlamaThread.shared().call
            result["raw"].append((await asyncio.to_thread(call, raw_run, raw, msgs, max_tokens))["tps"])
            result["engine"].append(await asyncio.to_thread(engine_run, app.engine, app.sampler))
            await answer(measure_keys=False)
            if progress is not None:
                progress(pair_ratios(result["app"], result["raw"]))
        result["pairs_s"] = time.perf_counter() - t0
        await answer(measure_keys=True)  # a last app run with key presses: their handling is work too
        app.engine.unload()
    return result


async def key_latencies(app: Any) -> list[float]:
    """While an answer streams, send a key the way the terminal driver does and time until the prompt shows it."""
    from textual import events

    prompt = app.chat.query_one("#prompt")
    keys: list[float] = []
    while app.chat.generating:
        before = prompt.text
        t0 = time.perf_counter()
        app.post_message(events.Key("x", "x"))
        while prompt.text == before and time.perf_counter() - t0 < 5:
            await asyncio.sleep(0.0005)
        keys.append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.05)
    return keys


async def session_memory(model: Path, threads: int, turns: int, engine_process: bool = False) -> dict[str, float]:
    """The app's own RSS growth over a `turns`-turn session (the model and its KV cache are mapped before).

    With `engine_process` the model lives in a child process, so this process's RSS is the app's own; the
    runner's growth is reported beside it."""
    import psutil

    from edgetui.config import Config
    from edgetui.core.store.store import Store
    from edgetui.core.types import SamplerSettings
    from edgetui.paths import Paths
    from edgetui.ui.app import create_app

    app = create_app(
        Config(n_ctx=16384, n_threads=threads, engine_process=engine_process),
        Paths.from_env().ensure(),
        store=Store.memory(),
        model_path=model,
    )
    app.sampler = SamplerSettings.greedy(max_tokens=12, seed=0)
    proc = psutil.Process()
    async with app.run_test(size=SIZE) as pilot:
        while app.engine.info is None:
            await pilot.pause(0.05)
        rss: list[int] = []
        runner_rss: list[int] = []
        pid = getattr(app.engine, "pid", None)
        runner = psutil.Process(pid) if pid else None
        for i in range(turns + 1):
            app.chat.query_one("#prompt").text = f"Turn {i}: name a fruit."
            await pilot.press("enter")
            await pilot.pause(0.05)
            while app.chat.generating:
                await asyncio.sleep(0.02)
            if i == 0:
                rss.append(proc.memory_info().rss)  # model mapped, KV cache allocated, first answer shown
                runner_rss.append(runner.memory_info().rss if runner else 0)
        await pilot.pause(0.5)
        rss.append(proc.memory_info().rss)
        runner_rss.append(runner.memory_info().rss if runner else 0)
        app.engine.unload()
    return {
        "turns": turns,
        "rss_after_first_mb": rss[0] / 2**20,
        "app_growth_mb": (rss[-1] - rss[0]) / 2**20,
        "runner_growth_mb": (runner_rss[-1] - runner_rss[0]) / 2**20,
    }


def paired_ratio(top: list[float], bottom: list[float]) -> float:
    """The median of run-by-run ratios: each app run is next to its raw run in time, so the machine's slow drift
    (tokens/s here wanders by 10-20 % over minutes) cancels out of each ratio."""
    ratios = pair_ratios(top, bottom)
    return round(statistics.median(ratios), 4) if ratios else 0.0


def startup_s(runs: int = 3) -> float:
    """Seconds from a fresh interpreter to the app's first frame (no model loaded)."""
    code = (
        "import time, asyncio; t0 = time.perf_counter()\n"
        "from edgetui.config import Config; from edgetui.paths import Paths; from edgetui.ui.app import create_app\n"
        "from edgetui.core.store.store import Store\n"
        "app = create_app(Config(), Paths.from_env().ensure(), store=Store.memory(), model_path=None)\n"
        "async def main():\n"
        "    async with app.run_test(size=(100, 30)) as pilot:\n"
        "        await pilot.pause(); print(time.perf_counter() - t0)\n"
        "asyncio.run(main())\n"
    )
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return min(times)


def default_max_pairs(n_gen: int) -> int:
    """--max-pairs when not given: 28 at -n 128, 22 at -n 256, 9 at -n 1024 (see PAIRS_BUDGET_S)."""
    pair_s = PAIR_SETUP_S + 3 * max(n_gen, 1) / EXPECTED_TPS
    return max(MIN_PAIRS_FOR_SPREAD, int(PAIRS_BUDGET_S / pair_s))


def _progress(min_pairs: int, max_pairs: int, target: float) -> Callable[[list[float]], None] | None:
    stream = sys.__stderr__
    if stream is None or not stream.isatty():
        return None

    def show(ratios: list[float]) -> None:  # on the real stderr: Textual redirects sys.stderr while the app runs
        spread = pair_spread(ratios, target)
        stream.write(
            f"\r\x1b[Kpair {spread.pairs} (at least {min_pairs}, at most {max_pairs}): ratio {spread.median:.4f}, "
            f"quartiles -{100 * spread.below:.1f} % / +{100 * spread.above:.1f} %"
        )
        stream.flush()

    return show


def run_app_overhead(args: argparse.Namespace) -> int:
    from llama_cpp import Llama

    from edgetui.config import Config
    from edgetui.core.models.default import default_model_path
    from edgetui.paths import Paths

    started = time.perf_counter()
    cfg = Config.load(Paths.from_env())
    model = Path(getattr(args, "bench_model", None) or cfg.model or default_model_path() or "")
    threads = getattr(args, "threads", None) or cfg.threads
    max_tokens = max(int(str(getattr(args, "n_gen", "256")).split(",")[0]) or 256, 128)
    min_pairs = max(1, int(getattr(args, "reps", 3)))
    max_pairs = max(min_pairs, int(getattr(args, "max_pairs", None) or default_max_pairs(max_tokens)))
    target = float(getattr(args, "spread", None) or SPREAD_TARGET)
    from edgetui.core.engines.llama_thread import LlamaThread

    raw = LlamaThread.shared().call(
        Llama, str(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    progress = _progress(min_pairs, max_pairs, target)
    try:
        result = asyncio.run(
            app_runs(
                model,
                threads,
                max_tokens,
                min_pairs,
                raw,
                cfg.engine_process,
                max_pairs=max_pairs,
                target=target,
                progress=progress,
            )
        )
    finally:
        if progress is not None and sys.__stderr__ is not None:
            sys.__stderr__.write("\r\x1b[K")
            sys.__stderr__.flush()
    raw.close()
    memory = asyncio.run(session_memory(model, threads, int(getattr(args, "turns", 200) or 200), cfg.engine_process))
    raw_tps, app_tps = statistics.median(result["raw"]), statistics.median(result["app"])
    engine_tps = statistics.median(result["engine"])
    ratios = pair_ratios(result["app"], result["raw"])
    spread = pair_spread(ratios, target)
    keys = sorted(result["key_ms"]) or [0.0]
    report = {
        "model": model.name,
        "threads": threads,
        "engine_process": cfg.engine_process,
        "n_gen": max_tokens,
        "min_pairs": min_pairs,
        "max_pairs": max_pairs,
        "raw_tps": round(raw_tps, 2),
        "app_tps": round(app_tps, 2),
        "ratio": round(spread.median, 4),  # the paired ratio, = pair_ratio_median (the name earlier runs used)
        **spread.as_dict(),
        "verdict": spread.verdict(max_pairs),
        "ratio_of_medians": round(app_tps / raw_tps, 4) if raw_tps else 0.0,
        "engine_tps": round(engine_tps, 2),
        "engine_ratio": paired_ratio(result["engine"], result["raw"]),
        "ui_ratio": paired_ratio(result["app"], result["engine"]),
        "shown_tps": round(statistics.median(result["shown"]), 2) if result["shown"] else 0.0,
        "screen_updates_per_s": round(statistics.median(result["updates_per_s"]), 1) if result["updates_per_s"] else 0,
        "key_latency_p99_ms": round(keys[min(len(keys) - 1, int(0.99 * len(keys)))], 1),
        "key_presses": len(result["key_ms"]),
        "startup_s": round(startup_s(), 3),
        "session_turns": memory["turns"],
        "app_rss_growth_mb": round(memory["app_growth_mb"], 1),
        "runner_rss_growth_mb": round(memory["runner_growth_mb"], 1),
        "pair_ratios": [round(x, 4) for x in ratios],
        "raw_runs": [round(x, 1) for x in result["raw"]],
        "engine_runs": [round(x, 1) for x in result["engine"]],
        "app_runs": [round(x, 1) for x in result["app"]],
        "pairs_s": round(result["pairs_s"], 1),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    if getattr(args, "json", False):
        print(json.dumps(report, indent=2))
    else:
        print(text_report(report))
    return 0


# Shown in text_report's ratio and spread lines instead of one line each.
_SPREAD_KEYS = {"pairs", "verdict", "spread_target", "spread_below", "spread_above", "spread_reached"}


def text_report(report: dict[str, Any]) -> str:
    """`key: value` lines; the paired ratio with its spread on one line and the spread's verdict under it."""
    lines = []
    for key, value in report.items():
        if key in _SPREAD_KEYS or key.startswith("pair_ratio_"):
            continue
        if key == "ratio":
            spread = pair_spread_of(report)
            lines.append(f"{'ratio (paired)':>22}: {spread.summary()}")
            lines.append(f"{'spread':>22}: {report['verdict']}")
            continue
        lines.append(f"{key:>22}: {value}")
    return "\n".join(lines)


def pair_spread_of(report: dict[str, Any]) -> PairSpread:
    """The PairSpread behind a report's pair_ratio_* keys."""
    return PairSpread(
        report["pairs"],
        report["pair_ratio_min"],
        report["pair_ratio_q1"],
        report["pair_ratio_median"],
        report["pair_ratio_q3"],
        report["pair_ratio_max"],
        report["spread_target"],
    )
