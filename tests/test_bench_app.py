"""`edgetui bench --app-overhead` end to end on the real model, at its smallest: every part of it still runs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.engine
@pytest.mark.slow
def test_the_app_overhead_bench_runs_end_to_end() -> None:
    cmd = [sys.executable, "-m", "edgetui", "bench", "--app-overhead", "--reps", "1", "--max-pairs", "1", "-n", "16",
           "--turns", "2", "--json"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert report["pairs"] == 1 and report["session_turns"] == 2
    assert report["raw_tps"] > 0 and report["app_tps"] > 0 and report["pair_ratio_median"] > 0
