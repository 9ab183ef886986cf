"""Tests for the llama-bench equivalent (edgetui.core.tools.bench) and `edgetui bench`, on the real default model."""

from __future__ import annotations

import json
import statistics
import sys
import threading
import types
from pathlib import Path

import pytest

from edgetui.core.tools.bench import (
    BenchError,
    BenchResult,
    BenchTest,
    backend_name,
    engine_version,
    format_params,
    markdown_table,
    mean_std,
    run_bench,
)
from edgetui.core.types import EngineError

# One thread: on a busy 2-core machine an OpenMP barrier waiting for a preempted second thread makes 2-thread
# runs many times slower, and these tests check the method, not the speed.
THREADS = 1


def test_parse_tests() -> None:
    assert BenchTest.parse("pp512") == BenchTest(512, 0)
    assert BenchTest.parse("TG128") == BenchTest(0, 128)
    assert BenchTest.parse("pp64+tg16") == BenchTest(64, 16)
    assert [BenchTest(512, 0).name, BenchTest(0, 128).name, BenchTest(8, 4).name] == ["pp512", "tg128", "pp8+tg4"]
    for bad in ("", "pp", "foo", "tg-1", "pp0", "pp12tg"):
        with pytest.raises(BenchError):
            BenchTest.parse(bad)


def test_mean_std_is_the_sample_stdev() -> None:
    values = [100.0, 110.0, 95.0, 105.0]
    assert mean_std(values) == (pytest.approx(statistics.fmean(values)), pytest.approx(statistics.stdev(values)))
    assert mean_std([42.0]) == (42.0, 0.0)
    assert mean_std([]) == (0.0, 0.0)


def test_llama_bench_formats() -> None:
    assert format_params(134515008) == "134.52 M"
    assert format_params(7_241_732_096) == "7.24 B"
    r = BenchResult(
        model="llama 256M Q4_1",
        size=96576768,
        params=134515008,
        backend="CPU",
        threads=2,
        n_gpu_layers=0,
        test="tg128",
        tps_mean=178.456,
        tps_std=1.234,
        samples=(177.0, 179.9),
    )
    lines = markdown_table([r]).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "model",
        "size",
        "params",
        "backend",
        "threads",
        "ngl",
        "test",
        "t/s",
    ]
    assert set(lines[1]) <= {"|", " ", "-", ":"}
    assert [c.strip() for c in lines[2].strip("|").split("|")] == [
        "llama 256M Q4_1",
        "92.1 MiB",
        "134.52 M",
        "CPU",
        "2",
        "0",
        "tg128",
        "178.46 ± 1.23",
    ]
    assert r.as_dict()["samples"] == [177.0, 179.9]


def test_engine_and_backend_names() -> None:
    assert engine_version().startswith("llama-cpp-python 0.")
    assert backend_name() in ("CPU", "GPU") or backend_name().isascii()


@pytest.mark.engine
def test_run_bench_on_the_default_model(default_model: Path) -> None:
    seen: list[tuple[str, int, int]] = []
    results = run_bench(
        default_model,
        n_threads=THREADS,
        n_gpu_layers=0,
        tests=("pp32", "tg16"),
        reps=2,
        progress=lambda msg, done, total: seen.append((msg, done, total)),
    )
    assert [r.test for r in results] == ["pp32", "tg16"]
    for r in results:
        assert r.model.startswith("llama ") and r.model.endswith("Q4_1")  # llama.cpp's own description
        assert r.size > 50_000_000 and r.params > 100_000_000
        assert r.backend and r.threads == THREADS and r.n_gpu_layers == 0
        assert len(r.samples) == 2 and len(r.samples_ns) == 2 and all(s > 0 for s in r.samples)
        assert r.tps_mean == pytest.approx(statistics.fmean(r.samples))
        assert r.tps_std == pytest.approx(statistics.stdev(r.samples))
        n_tokens = r.n_prompt + r.n_gen
        assert r.samples[0] == pytest.approx(1e9 * n_tokens / r.samples_ns[0])
        assert r.engine.startswith("llama-cpp-python")
        d = r.as_dict()
        assert {
            "model",
            "size",
            "params",
            "backend",
            "threads",
            "n_gpu_layers",
            "test",
            "tps_mean",
            "tps_std",
            "samples",
        } <= set(d)
        json.dumps(d)
    assert (results[0].n_prompt, results[0].n_gen, results[1].n_prompt, results[1].n_gen) == (32, 0, 0, 16)
    # one warm-up and two runs per test, then "done"
    assert [s[1] for s in seen] == [0, 1, 2, 3, 4, 5, 6] and {s[2] for s in seen} == {6}
    assert seen[0][0] == "pp32: warm-up" and seen[-1][0] == "done"


@pytest.mark.engine
def test_run_bench_on_an_already_loaded_model(shared_engine) -> None:
    with shared_engine.lock:
        [r] = run_bench(
            shared_engine.info.path,
            n_threads=THREADS,
            tests=["pp8+tg4"],
            reps=1,
            warmup=False,
            llama=shared_engine.llama,
        )
    assert r.test == "pp8+tg4" and r.samples[0] > 0 and r.n_gpu_layers == 0
    assert shared_engine.llama.n_ctx() == 2048  # the engine's own context is untouched


@pytest.mark.engine
def test_run_bench_cancel_returns_the_tests_done(default_model: Path) -> None:
    cancel = threading.Event()

    def progress(msg: str, done: int, total: int) -> None:
        if msg.startswith("tg"):
            cancel.set()

    results = run_bench(
        default_model, n_threads=THREADS, tests=("pp8", "tg8"), reps=1, progress=progress, cancel=cancel
    )
    assert [r.test for r in results] == ["pp8"]
    cancel.set()
    assert run_bench(default_model, n_threads=THREADS, tests=("pp8",), reps=1, cancel=cancel) == []


@pytest.mark.engine
def test_run_bench_bad_input(tmp_path: Path, default_model: Path) -> None:
    with pytest.raises(EngineError, match="not found"):
        run_bench(tmp_path / "missing.gguf", tests=("tg4",), reps=1)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(EngineError, match="not a GGUF"):
        run_bench(junk, tests=("tg4",), reps=1)
    with pytest.raises(BenchError, match="repetitions"):
        run_bench(default_model, reps=0)
    with pytest.raises(BenchError, match="Unknown benchmark test"):
        run_bench(default_model, tests=("pp32", "xx"))
    with pytest.raises(BenchError, match="threads"):
        run_bench(default_model, n_threads=0)


@pytest.mark.engine
def test_run_bench_truncated_model(tmp_path: Path, default_model: Path) -> None:
    bad = tmp_path / "truncated.gguf"
    bad.write_bytes(default_model.read_bytes()[:200_000])
    with pytest.raises(BenchError, match="could not load truncated.gguf"):
        run_bench(bad, n_threads=THREADS, tests=("tg4",), reps=1)


# -- the CLI ---------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_cli_bench_json(capsys: pytest.CaptureFixture[str], default_model: Path) -> None:
    from edgetui.cli import main

    rc = main(["bench", str(default_model), "-p", "16", "-n", "8", "-r", "1", "--threads", str(THREADS), "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    rows = json.loads(out)
    assert [r["test"] for r in rows] == ["pp16", "tg8"]
    assert all(r["tps_mean"] > 0 and r["threads"] == THREADS and r["model"].endswith("Q4_1") for r in rows)


@pytest.mark.engine
def test_cli_bench_table_with_default_model_and_top_level_threads(capsys: pytest.CaptureFixture[str]) -> None:
    from edgetui.cli import main

    rc = main(["--threads", str(THREADS), "bench", "-p", "0", "-n", "4", "-r", "1"])
    out = capsys.readouterr().out
    assert rc == 0
    header, _rule, row = (line.strip("|").split("|") for line in out.splitlines()[:3])
    cells = dict(zip((c.strip() for c in header), (c.strip() for c in row), strict=True))
    assert cells["test"] == "tg4" and cells["threads"] == str(THREADS) and "±" in cells["t/s"]
    assert "llama-cpp-python" in out


def test_cli_bench_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from edgetui.cli import main

    assert main(["bench", str(tmp_path / "nope.gguf")]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["bench", "-p", "abc"]) == 2
    assert "-p takes whole numbers" in capsys.readouterr().err
    assert main(["bench", "-p", "0", "-n", "0"]) == 2
    assert "nothing to measure" in capsys.readouterr().err


def test_cli_app_overhead_hook(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from edgetui.cli import main

    called = []
    fake = types.ModuleType("edgetui.ui.bench_app")
    fake.run_app_overhead = lambda args: called.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edgetui.ui.bench_app", fake)
    assert main(["bench", "--app-overhead", "-n", "64"]) == 0
    assert called and called[0].app_overhead and called[0].n_gen == "64"


@pytest.mark.engine
def test_cli_bench_results_are_kept_in_the_database(default_model, capsys) -> None:
    from edgetui.cli import main
    from edgetui.core.store.store import Store
    from edgetui.paths import Paths

    assert main(["bench", str(default_model), "-p", "16", "-n", "4", "-r", "1", "-t", "1", "--json"]) == 0
    capsys.readouterr()
    store = Store.open(Paths.from_env().db_path)
    assert {r["test"] for r in store.benchmarks()} == {"pp16", "tg4"}


def test_paired_ratio_cancels_the_machines_drift() -> None:
    """Each app run is compared with the raw run next to it: a machine slowing down between pairs does not move it."""
    from edgetui.ui.bench_app import paired_ratio

    raw = [150.0, 120.0, 100.0, 160.0]
    app = [x * 0.97 for x in raw]
    assert paired_ratio(app, raw) == pytest.approx(0.97)
    assert paired_ratio([], []) == 0.0


# -- the spread of paired ratios and the stopping rule (edgetui.core.tools.pair_stats) ----------------------------


def test_pair_ratios_leave_out_failed_runs() -> None:
    from edgetui.core.tools.pair_stats import pair_ratios

    assert pair_ratios([90.0, 50.0, 99.0], [100.0, 0.0, 110.0]) == [pytest.approx(0.9), pytest.approx(0.9)]
    assert pair_ratios([], []) == []


def test_pair_spread_is_the_inclusive_five_number_summary() -> None:
    from edgetui.core.tools.pair_stats import pair_spread

    ratios = [1.10, 0.90, 1.00, 1.05, 0.95]
    s = pair_spread(ratios)
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    assert (s.pairs, s.min, s.q1, s.median, s.q3, s.max) == (5, 0.90, q1, 1.00, q3, 1.10)
    assert (s.q1, s.q3) == (pytest.approx(0.95), pytest.approx(1.05))
    assert (s.below, s.above) == (pytest.approx(0.05), pytest.approx(0.05))
    # an even count: the median between the middle two, quartiles interpolated (numpy's default 'linear')
    s = pair_spread([0.96, 1.0, 0.98, 1.02])
    assert (s.q1, s.median, s.q3) == (pytest.approx(0.975), pytest.approx(0.99), pytest.approx(1.005))
    # too few values for quantiles(): no error, the quartiles are the median
    assert pair_spread([0.97]).as_dict()["pair_ratio_q1"] == 0.97
    assert pair_spread([]).pairs == 0 and not pair_spread([]).reached


def test_spread_target_counts_both_quartiles_and_at_least_four_pairs() -> None:
    from edgetui.core.tools.pair_stats import MIN_PAIRS_FOR_SPREAD, spread_reached

    assert MIN_PAIRS_FOR_SPREAD == 4
    assert spread_reached([0.97, 1.0, 1.0, 1.03, 1.0])  # exactly ±3 %: within
    assert spread_reached([0.96, 1.0, 1.0, 1.0, 1.0])  # one low pair of five leaves q1 at the median
    assert spread_reached([0.80, 1.0, 1.0, 1.0, 1.20])  # outliers move min and max, not the quartiles
    assert not spread_reached([0.96, 0.96, 1.0, 1.0, 1.0])  # q1 4 % under the median
    assert not spread_reached([1.0, 1.0, 1.0, 1.04, 1.04])  # q3 4 % over it
    assert spread_reached([0.96, 0.96, 1.0, 1.0, 1.0], target=0.05)
    assert not spread_reached([1.0, 1.0, 1.0])  # identical, but too few pairs for quartiles
    assert not spread_reached([])


def test_need_more_pairs_stopping_rule() -> None:
    from edgetui.core.tools.pair_stats import need_more_pairs

    tight, wide = [1.0, 1.01, 0.99, 1.0, 1.0], [0.9, 1.1, 0.95, 1.05, 1.0]
    assert need_more_pairs(tight[:3], min_pairs=4, max_pairs=10)  # under the minimum, however tight
    assert not need_more_pairs(tight[:4], min_pairs=4, max_pairs=10)  # the minimum, within the target: stop
    assert need_more_pairs(wide, min_pairs=4, max_pairs=10)  # too wide: another pair
    assert not need_more_pairs(wide + [1.0] * 5, min_pairs=4, max_pairs=10)  # the maximum: stop, even if wide
    assert not need_more_pairs(tight[:2], min_pairs=8, max_pairs=2)  # the maximum wins over the minimum
    assert not need_more_pairs(wide, min_pairs=4, max_pairs=10, target=0.06)  # a looser target is met
    # --reps below 4: the spread cannot be reached before 4 pairs, so the rule keeps going until then
    assert need_more_pairs([1.0, 1.0], min_pairs=2, max_pairs=10)
    assert not need_more_pairs([1.0] * 4, min_pairs=2, max_pairs=10)


def _pairs_taken(stream: list[float], min_pairs: int, max_pairs: int) -> tuple[int, bool]:
    """The bench's loop with ratios fed from a list instead of runs: (pairs taken, target reached)."""
    from edgetui.core.tools.pair_stats import need_more_pairs, pair_spread

    taken: list[float] = []
    while need_more_pairs(taken, min_pairs, max_pairs):
        taken.append(stream[len(taken)])
    return len(taken), pair_spread(taken).reached


def test_stopping_rule_adds_pairs_until_the_quartiles_settle() -> None:
    # A noisy first quarter of an hour (±8 %), then a quiet one (±1 %): pairs are added until the quiet ones make
    # up enough of the sample that both quartiles are within 3 % of the median.
    noisy = [0.92, 1.08, 0.93, 1.07, 0.90, 1.09]
    quiet = [1.00, 0.99, 1.01, 1.00] * 10
    n, reached = _pairs_taken(noisy + quiet, min_pairs=4, max_pairs=40)
    assert reached and 6 < n < 40
    from edgetui.core.tools.pair_stats import pair_spread, spread_reached

    assert not spread_reached((noisy + quiet)[: n - 1])  # one pair fewer was not enough
    assert pair_spread((noisy + quiet)[:n]).below <= 0.03
    # a quiet machine stops at the minimum; a machine noisy all along stops at the maximum, not reached
    assert _pairs_taken(quiet, min_pairs=5, max_pairs=40) == (5, True)
    assert _pairs_taken((noisy * 10)[:40], min_pairs=5, max_pairs=12) == (12, False)


def test_spread_summary_dict_and_verdict() -> None:
    from edgetui.core.tools.pair_stats import pair_spread

    s = pair_spread([0.95, 0.98, 1.0, 1.01, 1.02])
    assert s.summary() == "1.0000 (min 0.9500, q1 0.9800, q3 1.0100, max 1.0200; 5 pairs)"
    assert s.as_dict() == {
        "pair_ratio_min": 0.95,
        "pair_ratio_q1": 0.98,
        "pair_ratio_median": 1.0,
        "pair_ratio_q3": 1.01,
        "pair_ratio_max": 1.02,
        "pairs": 5,
        "spread_target": 0.03,
        "spread_below": 0.02,
        "spread_above": 0.01,
        "spread_reached": True,
    }
    json.dumps(s.as_dict())
    assert s.verdict(40) == "reached: quartiles -2.0 % / +1.0 % of the median after 5 pairs (target ±3 %)"
    wide = pair_spread([0.9, 0.94, 1.0, 1.06, 1.1])
    assert wide.verdict(5).startswith("NOT reached after 5 pairs (the --max-pairs limit): quartiles -6.0 % / +6.0 %")
    assert "not trustworthy this hour" in wide.verdict(5)
    assert "--max-pairs limit" not in wide.verdict(40)
    few = pair_spread([1.0, 1.0])
    assert "too few" in few.verdict(2) and "not trustworthy" in few.verdict(2)
    assert pair_spread([1.0]).summary().endswith("; 1 pair)")


def test_app_overhead_text_report_shows_the_spread_beside_the_ratio() -> None:
    from edgetui.core.tools.pair_stats import pair_spread
    from edgetui.ui.bench_app import text_report

    s = pair_spread([0.9, 0.94, 1.0, 1.06, 1.1])
    report = {
        "model": "m.gguf",
        "min_pairs": 5,
        "max_pairs": 5,
        "ratio": s.median,
        **s.as_dict(),
        "verdict": s.verdict(5),
        "ratio_of_medians": 0.99,
    }
    lines = text_report(report).splitlines()
    assert [line.split(":")[0].strip() for line in lines] == [
        "model",
        "min_pairs",
        "max_pairs",
        "ratio (paired)",
        "spread",
        "ratio_of_medians",
    ]
    assert lines[3].endswith(": 1.0000 (min 0.9000, q1 0.9400, q3 1.0600, max 1.1000; 5 pairs)")
    assert "NOT reached" in lines[4] and "not trustworthy this hour" in lines[4]


def test_app_overhead_default_max_pairs() -> None:
    from edgetui.ui.bench_app import default_max_pairs

    assert [default_max_pairs(n) for n in (128, 256, 1024)] == [28, 22, 9]  # fewer pairs for longer answers
    assert default_max_pairs(100_000) == 4  # never below the pairs the spread needs


def test_cli_app_overhead_pair_flags(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from edgetui.cli import main

    called = []
    fake = types.ModuleType("edgetui.ui.bench_app")
    fake.run_app_overhead = lambda args: called.append(args) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "edgetui.ui.bench_app", fake)
    assert main(["bench", "--app-overhead", "--reps", "6", "--max-pairs", "30", "--spread", "0.02"]) == 0
    assert (called[0].reps, called[0].max_pairs, called[0].spread) == (6, 30, 0.02)
    assert main(["bench", "--app-overhead"]) == 0
    assert (called[1].max_pairs, called[1].spread) == (None, None)  # bench_app's defaults
    for bad in (["--max-pairs", "0"], ["--spread", "3"], ["--spread", "x"]):
        with pytest.raises(SystemExit) as exc:
            main(["bench", "--app-overhead", *bad])
        assert exc.value.code == 2
    capsys.readouterr()
