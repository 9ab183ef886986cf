"""Snapshot tests of every other screen and dialog, at 80x24 and 120x40 (see test_snapshots.py for what keeps them
the same on every machine: `fixed_home`, frozen gauges, no toasts, cursors that do not blink)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Footer
from textual.widgets._footer import FooterKey  # textual is pinned: the footer's key widget

from edgetui.core.compare.records import Agreement, CompareResult, MemoryPlan, SideResult, SpeedRecord
from edgetui.core.store.store import Store
from edgetui.core.types import ChatMessage, GenerationStats, SamplerSettings, StopReason
from edgetui.ui.catalog.hub_screen import HubScreen
from edgetui.ui.catalog.model_details import ModelDetails
from edgetui.ui.compare.compare_messages import CompareTurnDone
from edgetui.ui.compare.compare_screen import CompareScreen
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from edgetui.ui.dialogs.help_screen import HelpScreen
from edgetui.ui.dialogs.quantize_dialog import QuantizeDialog
from edgetui.ui.dialogs.settings_dialog import SettingsDialog
from edgetui.ui.screens.bench_screen import BenchScreen
from edgetui.ui.screens.sessions_screen import SessionsScreen
from tests.core.test_catalog import tiny_model
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import say, wait_for, wait_loaded
from tests.ui.screen_text import screen_lines
from tests.ui.test_snapshots import HOME, SIZES, fixed_home, ready, snapshot_app

__all__ = ["fixed_home"]  # (the fixture, for the tests below)

# Models in the app's models dir (tiny GGUF files: names, quantizations and sizes a screen can show).
LOADED = "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
SIBLING = "Qwen2.5-0.5B-Instruct-Q8_0.gguf"
LONG = "Meta-Llama-3.1-8B-Instruct-abliterated-imatrix-Q5_K_M.gguf"
MODELS = {
    LOADED: ("Qwen2.5 0.5B Instruct", 15, "Qwen2.5"),
    SIBLING: ("Qwen2.5 0.5B Instruct", 7, "Qwen2.5"),
    LONG: ("Meta Llama 3.1 8B Instruct abliterated", 17, "Meta-Llama-3.1"),
}


def put_models(home: Path) -> Path:
    """The models above in `home`'s models dir; the path of the one the app loads."""
    models = home / "models"
    models.mkdir(parents=True, exist_ok=True)
    for file, (name, ftype, basename) in MODELS.items():
        (models / file).write_bytes(tiny_model(name, ftype=ftype, layers=2, basename=basename))
    return models / LOADED


def catalog_app(home: Path, **kwargs):
    """The app with the models above, the Qwen Q4_K_M loaded."""
    return snapshot_app(model=put_models(home), **kwargs)


async def scanned(pilot) -> None:
    app = pilot.app
    await wait_loaded(pilot, app)
    await wait_for(pilot, lambda: app.catalog.catalog is not None and not app.catalog.scanning, what="the scan")


async def highlight(pilot, file: str) -> None:
    """Show the catalog (F2 where the screen is narrow), focus it, highlight the row of `file`."""
    app = pilot.app
    await scanned(pilot)
    if not app.catalog.display:
        await pilot.press("f2")
    table = app.catalog.query_one(DataTable)
    table.focus()
    key = next(k for k in app.catalog.items if k.endswith(file))
    table.move_cursor(row=table.get_row_index(key))
    await pilot.pause()


# -- compare (Ctrl+K) -------------------------------------------------------------------------------------------
def side_result(name: str, file: str, quant: str, tokens: list[str], ids: list[int], size: int, bpw: float,
                tps: float) -> SideResult:  # fmt: skip
    """One side's answer as Compare makes it: its tokens (ids and offsets) and speed."""
    answer, offsets = "", []
    for token in tokens:
        offsets.append(len(answer))
        answer += token
    speed = SpeedRecord(file_size_bytes=size, bits_per_weight=bpw, n_params=494_032_768,
                        load_s=0.31, ttft_s=0.052, prompt_tokens=14, prompt_eval_tokens=14, prompt_tps=410.0,
                        gen_tps=tps, gen_tokens=len(ids))  # fmt: skip
    stats = GenerationStats(StopReason.EOS, ttft_s=0.052, prompt_tokens=14, prompt_eval_tokens=14, prompt_tps=410.0,
                            gen_tokens=len(ids), gen_tps=tps, total_s=0.2)  # fmt: skip
    return SideResult(name, f"{HOME}/models/{file}", Path(file).stem, quant, answer, speed, stats, ids, offsets, "v")


def compare_result() -> CompareResult:
    """A turn of the loaded Q4_K_M (A) against its Q8_0 (B): they part at the fifth token."""
    a = side_result("a", LOADED, "Q4_K_M", ["Red", ",", " blue", " and", " green", "."], [1, 2, 3, 4, 5, 6],
                    398 << 20, 4.91, 80.0)  # fmt: skip
    b = side_result("b", SIBLING, "Q8_0", ["Red", ",", " blue", " and", " pink", "!"], [1, 2, 3, 4, 9, 10],
                    676 << 20, 8.50, 62.0)  # fmt: skip
    return CompareResult(1, [ChatMessage("user", "Name three colours.")], a, b, Agreement.of(a, b, greedy=True),
                         "sequential", MemoryPlan(True, 1100 << 20, 100 << 20, 8 << 30),
                         SamplerSettings.greedy(max_tokens=12), False)  # fmt: skip


async def open_compare_with_a_turn(pilot) -> CompareScreen:
    """Ctrl+K (A: the loaded model, B: its sibling), then a turn as a run of both models would end it."""
    app = pilot.app
    await scanned(pilot)
    await pilot.press("ctrl+k")
    await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="the compare screen")
    screen = app.screen
    await wait_for(pilot, lambda: screen.paths["b"] is not None, what="model B")
    result = compare_result()
    for name in ("a", "b"):
        column = screen.column(name)
        await column.start_turn("Name three colours.")
        await column.append(getattr(result, name).answer)
        await column.finish(getattr(result, name))
    screen.busy = "turn"
    screen.post_message(CompareTurnDone(screen._run_id, result, None))
    await wait_for(pilot, lambda: not screen.busy, what="the turn to end")
    return screen


@SIZES
def test_compare_sequential(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """Two quantizations side by side after a turn (one after the other): answers, divergence, speed table."""

    async def run_before(pilot) -> None:
        await open_compare_with_a_turn(pilot)
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


@SIZES
def test_compare_concurrent(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """The same, switched to both models at once with c (out of the prompt)."""

    async def run_before(pilot) -> None:
        screen = await open_compare_with_a_turn(pilot)
        screen.column("a").turns.focus()
        await pilot.press("c")
        await wait_for(pilot, lambda: screen.concurrent, what="the concurrent mode")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


# -- sessions (Ctrl+S) ------------------------------------------------------------------------------------------
SESSIONS = [  # (title, model, messages)
    ("Capital of France", "Qwen2.5-0.5B-Instruct-Q4_K_M", 2),
    ("A packing list for a week of hiking in the Scottish Highlands in October", "Qwen2.5-0.5B-Instruct-Q8_0", 6),
    ("Refactor the parser", "Meta-Llama-3.1-8B-Instruct-abliterated-imatrix-Q5_K_M", 4),
]


def sessions_store(home: Path) -> Store:
    store = Store.open(home / "edgetui.db")
    for title, model, count in SESSIONS:
        sid = store.create_session(model_path=f"{home}/models/{model}.gguf", model_name=model, title=title)
        parent = None
        for i in range(count):
            role = "user" if i % 2 == 0 else "assistant"
            parent = store.add_message(sid, role, f"{role} message {i} of {title}", parent_id=parent, model=model)
    return store


def fix_dates(store: Store) -> None:
    """Every session updated on a fixed day, a day apart, the newest last (the list shows the dates)."""
    for sid in [s.id for s in store.list_sessions(limit=100)]:
        stamp = f"2025-03-{10 + sid:02d}T09:{sid:02d}:00.000000+00:00"
        store.write(lambda c, sid=sid, stamp=stamp: c.execute(
            "UPDATE sessions SET updated = ?, created = ? WHERE id = ?", (stamp, stamp, sid)))  # fmt: skip


@SIZES
def test_sessions_screen(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """Ctrl+S with a few sessions: dates, titles, models, message counts (the columns fit the width), the
    highlighted session whole under the table, where the database is."""
    store = sessions_store(fixed_home)

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_loaded(pilot, app)
        fix_dates(store)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        await pilot.press("down")  # the packing list: its title and model whole in the line under the table
        await ready(pilot)

    assert snap_compare(snapshot_app(store=store), terminal_size=size, run_before=run_before)


# -- dialogs over the main screen ----------------------------------------------------------------------------------
@SIZES
def test_settings_dialog(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """Ctrl+T: the system prompt and sampling settings, the three buttons in view."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_loaded(pilot, app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog), what="the settings dialog")
        await ready(pilot, workers=False)  # (a worker waits for the dialog's answer)

    app = snapshot_app(system_prompt="You are a terse assistant. Answer in one sentence.")
    assert snap_compare(app, terminal_size=size, run_before=run_before)


@SIZES
def test_help_dialog(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """F1: the keys (the list scrolls)."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_loaded(pilot, app)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        await ready(pilot)

    assert snap_compare(snapshot_app(), terminal_size=size, run_before=run_before)


@SIZES
def test_context_full_dialog(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """A question the context cannot hold: drop the oldest turns, always, or cancel."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_loaded(pilot, app)
        for i in range(4):
            await say(pilot, app, f"turn {i} " + "word " * 12)
        app.chat.prompt.text = "one more question"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the context-full dialog")
        await ready(pilot, workers=False)  # (the question's worker waits for the answer)

    app = snapshot_app(FakeEngine("a b c d e f g h"), n_ctx=180)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


# -- from the catalog ---------------------------------------------------------------------------------------------
@SIZES
def test_model_details(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """d on a model with a long name: its whole name and path, the header, the fit estimate, the siblings."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await highlight(pilot, LONG)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelDetails), what="the details")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


@SIZES
def test_quantize_dialog(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """q on the Q8_0: the types with their sizes, the requantization note, the output path."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await highlight(pilot, SIBLING)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuantizeDialog), what="the quantize dialog")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


@SIZES
def test_hub_offline(snap_compare, fixed_home: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """h with HF_HUB_OFFLINE set: the offline banner and what still works."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    async def run_before(pilot) -> None:
        app = pilot.app
        await highlight(pilot, LOADED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HubScreen) and app.screen.offline, what="offline")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


@SIZES
def test_hub_unreachable(
    snap_compare, fixed_home: Path, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """h when the Hub does not answer (nothing listens on port 1 of this machine): offline, with the reason."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    async def run_before(pilot) -> None:
        app = pilot.app
        await highlight(pilot, LOADED)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, HubScreen) and app.screen.offline, what="offline")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


# -- bench (Ctrl+B) ------------------------------------------------------------------------------------------------
BENCHES = [
    {"model": "qwen2 1B Q4_K - Medium", "size": 398 << 20, "params": 494_032_768, "backend": "CPU", "threads": 2,
     "n_gpu_layers": 0, "test": "pp512", "tps_mean": 182.41, "tps_std": 3.05, "reps": 5},
    {"model": "qwen2 1B Q4_K - Medium", "size": 398 << 20, "params": 494_032_768, "backend": "CPU", "threads": 2,
     "n_gpu_layers": 0, "test": "tg128", "tps_mean": 31.77, "tps_std": 0.42, "reps": 5},
]  # fmt: skip


@SIZES
def test_bench_screen(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """Ctrl+B before a run: the earlier results kept in the database, what Enter runs."""

    async def run_before(pilot) -> None:
        app = pilot.app
        await wait_loaded(pilot, app)
        for row in BENCHES:
            app.store.add_benchmark(row)
        app.store.write(lambda c: c.execute("UPDATE benchmarks SET created = '2025-03-12T10:30:00.000000+00:00'"))
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchScreen), what="the bench screen")
        await ready(pilot)

    assert snap_compare(catalog_app(fixed_home), terminal_size=size, run_before=run_before)


# -- what an 80x24 terminal shows whole -----------------------------------------------------------------------------
def cut_keys(app) -> list[str]:
    """The footer's keys that the bottom line does not show whole ("^k Co": cut; or hidden under the palette)."""
    line = screen_lines(app)[-1]
    texts = [f"{k.key_display} {k.description}".strip() for k in app.screen.query_one(Footer).query(FooterKey)]
    return [t for t in texts if t not in line]


async def test_every_footer_shows_whole_keys_at_80x24(fixed_home: Path) -> None:
    app = catalog_app(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)

        async def check(where: str) -> None:
            await ready(pilot, workers=False)
            assert cut_keys(app) == [], f"{where}: {screen_lines(app)[-1]!r}"
            assert "f1 Help" in screen_lines(app)[-1], where  # (the way to every key left out)

        await check("main screen, prompt")
        await highlight(pilot, LOADED)
        await check("main screen, catalog")
        await pilot.press("d")
        await check("model details")
        await pilot.press("escape")
        for key, name in (("ctrl+s", "sessions"), ("ctrl+b", "bench")):
            await pilot.press(key)
            await check(name)
            await pilot.press("escape")
        screen = await open_compare_with_a_turn(pilot)
        await check("compare, prompt")
        screen.column("a").turns.focus()
        await check("compare, a column")


async def test_the_sessions_table_fits_80_columns_and_says_the_highlighted_session_whole(fixed_home: Path) -> None:
    store = sessions_store(fixed_home)
    app = snapshot_app(store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        await pilot.press("down")  # the packing list: a title and a model too long for their cells
        await ready(pilot)
        lines = screen_lines(app)
        header = next(line for line in lines if "Updated" in line)
        assert all(label in header for label in ("Title", "Model", "Msgs")), header
        title, model = SESSIONS[1][:2]
        detail = " ".join(line.strip() for line in lines[-6:])
        assert title in detail and model in detail, detail


async def test_the_bench_table_shows_its_results_at_80_columns_and_the_highlighted_one_whole(
    fixed_home: Path,
) -> None:
    app = catalog_app(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        for row in BENCHES:
            app.store.add_benchmark(row)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchScreen), what="the bench screen")
        await ready(pilot)
        lines = screen_lines(app)
        assert "tg128" in lines[2] and "31.77 ± 0.42" in lines[2], lines[2]  # the newest result, in view
        detail = " ".join(line.strip() for line in lines[-6:])
        assert "qwen2 1B Q4_K - Medium · tg128 31.77 ± 0.42 t/s" in detail and "2 threads, ngl 0" in detail, detail


async def test_the_details_screen_shows_a_long_name_and_path_whole_at_80x24(fixed_home: Path) -> None:
    app = catalog_app(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await highlight(pilot, LONG)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelDetails), what="the details")
        await ready(pilot)
        text = "".join(line.strip() for line in screen_lines(app))
        assert f"Model details: {Path(LONG).stem}" in text
        assert f"{fixed_home}/models/{LONG}" in text.replace(" ", ""), text  # (folded over two lines)


async def test_a_catalog_row_under_the_mouse_has_its_cells_whole_as_tooltip(fixed_home: Path) -> None:
    app = catalog_app(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await highlight(pilot, SIBLING)
        table = app.catalog.table
        row = next(i for i, k in enumerate(app.catalog.items) if k.endswith(LONG))
        await pilot.hover(table, offset=(5, row + 1))  # (under the header)
        await pilot.pause()
        tip = str(table.tooltip)
        assert Path(LONG).stem in tip and f"{fixed_home}/models/{LONG}" in tip and "Q5_K_M" in tip, tip


async def test_the_context_full_dialog_shows_its_buttons_whole_at_80x24(fixed_home: Path) -> None:
    app = snapshot_app(FakeEngine("a b c d e f g h"), n_ctx=180)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        for i in range(4):
            await say(pilot, app, f"turn {i} " + "word " * 12)
        app.chat.prompt.text = "one more question"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the context-full dialog")
        await ready(pilot, workers=False)
        dialog = app.screen.query_one(".dialog")
        inside = dialog.content_region
        buttons = list(app.screen.query(Button))
        assert buttons and all(inside.contains_region(b.region) for b in buttons), [str(b.label) for b in buttons]


async def test_the_compare_bar_wraps_long_model_names_at_80x24(fixed_home: Path) -> None:
    app = catalog_app(fixed_home)
    async with app.run_test(size=(80, 24)) as pilot:
        await scanned(pilot)
        screen = CompareScreen(path_a=fixed_home / "models" / LONG, path_b=fixed_home / "models" / SIBLING)
        await app.push_screen(screen)
        await ready(pilot)
        bar = screen.query_one("#cmp-bar")
        shown = "".join(screen_lines(app)[bar.region.y : bar.region.bottom]).replace(" ", "")
        assert Path(LONG).stem in shown and Path(SIBLING).stem in shown, shown
        hint = screen.query_one("#cmp-status")
        assert "Esc stops, or goes back" in " ".join(screen_lines(app)[hint.region.y : hint.region.bottom])
