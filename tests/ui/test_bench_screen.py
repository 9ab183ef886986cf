"""The benchmark screen runs llama-bench's method on the loaded model (real engine) and keeps the results."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.engines.llama import LlamaEngine
from edgetui.ui.screens.bench_screen import BenchScreen
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, make_app, settle, wait_for, wait_loaded


@pytest.mark.engine
async def test_quick_benchmark_of_the_loaded_model_is_stored(default_model: Path) -> None:
    app = make_app(LlamaEngine(), model=default_model, n_ctx=512, n_threads=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchScreen))
        screen = app.screen
        await pilot.press("f")  # quick: pp128 and tg32, 2 repetitions
        await wait_for(pilot, lambda: screen._cancel is None and len(app.store.benchmarks()) == 2, timeout=120)
        await settle(pilot)
        rows = app.store.benchmarks()
        assert {r["test"] for r in rows} == {"pp128", "tg32"}
        assert all(r["tps_mean"] > 0 and r["threads"] == 2 for r in rows)
        assert screen.query_one("#bench-table").row_count == 2
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, BenchScreen))
    app.engine.unload()


async def test_benchmark_needs_a_local_model() -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchScreen))
        await pilot.press("enter")
        await settle(pilot)
        assert "Load a local" in str(app.screen.query_one("#bench-status").render())
