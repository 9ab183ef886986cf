"""Pilot tests of the catalog pane: listing, sort, filter, unreadable files, details, quantize, delete."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from edgetui.ui.catalog.catalog_pane import BROKEN, LOADED, SIBLING
from edgetui.ui.catalog.model_details import ModelDetails
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from edgetui.ui.dialogs.quantize_dialog import QuantizeDialog
from tests.core.test_catalog import tiny_model
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, settle, wait_for, wait_loaded
from tests.ui.helpers import make_app as _make_app


def make_app(engine, **kw):
    """The app, its catalog blind to this machine's own Ollama and LM Studio models (so row counts are exact)."""
    return _make_app(engine, scan_ollama=False, scan_lmstudio=False, **kw)


async def wait_scanned(pilot, app, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: app.catalog.catalog is not None and not app.catalog.scanning, timeout)


def keys(app) -> list[str]:
    return list(app.catalog.items)


async def select(pilot, app, path: Path | str) -> None:
    """Focus the catalog table and put its cursor on the row of `path`."""
    table = app.catalog.query_one(DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(path)))
    await settle(pilot)  # (the status line follows the highlighted row)


def text_of(static: Static) -> str:
    """What a Static shows, rich tables included, as plain text."""
    import io

    from rich.console import Console

    console = Console(width=160, file=io.StringIO(), color_system=None)
    console.print(static.content)
    return console.file.getvalue()


def catalog_status(app) -> str:
    return str(app.catalog.query_one("#catalog-status", Static).render())


@pytest.mark.engine
async def test_lists_default_and_copied_models_sorts_filters_and_explains_unreadable(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    models = app.paths.models_dir
    copied = models / "copy-of-smol.Q4_1.gguf"
    shutil.copy(default_model, copied)
    (models / "Small.Q8_0.gguf").write_bytes(tiny_model("Small", layers=1))
    (models / "Big.Q8_0.gguf").write_bytes(tiny_model("Big", layers=6))
    (models / "broken.gguf").write_bytes(tiny_model("Broken")[:60])
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        pane = app.catalog
        assert str(default_model) in keys(app) and str(copied) in keys(app)
        assert pane.row_text(default_model)[1].startswith("SmolLM2")
        assert pane.row_text(default_model)[2] == "Q4_1" and pane.row_text(default_model)[0][1] == "✓"
        # unreadable: listed last, marked, with its reason, which the status line repeats when highlighted
        broken = str(models / "broken.gguf")
        assert keys(app)[-1] == broken
        row = pane.row_text(broken)
        assert row[0].startswith(BROKEN) and "truncated" in row[-1]
        await select(pilot, app, broken)
        assert "truncated" in catalog_status(app)
        # "s" cycles the sort key: by size, the tiny models come first
        await pilot.press("s")
        await settle(pilot)
        assert pane.sort_key == "size"
        readable = [k for k in keys(app) if k != broken]
        assert [Path(k).name for k in readable[:2]] == ["Small.Q8_0.gguf", "Big.Q8_0.gguf"]
        assert "by size" in str(pane.query_one("#catalog-title").render())
        # "/" filters as you type; Enter keeps the filter; Escape in the box clears it
        await pilot.press("slash", *"small")
        await settle(pilot)
        assert [Path(k).name for k in keys(app)] == ["Small.Q8_0.gguf"]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.focused, DataTable) and pane.filter_text == "small"
        await pilot.press("slash", "escape")
        await settle(pilot)
        assert pane.filter_text == "" and len(keys(app)) == 5
        # the F2 key hides and shows the pane
        await pilot.press("f2")
        await settle(pilot)
        assert not pane.display
        await pilot.press("f2")
        await settle(pilot)
        assert pane.display


@pytest.mark.engine
async def test_details_show_the_header_and_recompute_the_fit(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None, n_ctx=1024)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, default_model)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelDetails))
        screen = app.screen
        meta = text_of(screen.query_one("#details-meta", Static))
        for text in ("llama", "Chat template", "yes", "Heads / KV heads", "Q4_1", "License"):
            assert text in meta
        assert screen.estimate is not None and screen.estimate.n_ctx == 1024
        box = screen.query_one("#details-ctx", Input)
        box.focus()
        box.value = ""
        await pilot.press(*"8192", "enter")
        await settle(pilot)
        assert screen.estimate.n_ctx == 8192
        assert "8,192" in text_of(screen.query_one("#details-fit", Static))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


@pytest.mark.engine
async def test_quantize_makes_a_q8_0_that_appears_as_a_sibling(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=default_model, n_threads=2)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await wait_scanned(pilot, app)
        assert app.catalog.row_text(default_model)[0][0] == LOADED
        await select(pilot, app, default_model)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuantizeDialog))
        dialog = app.screen
        expected = app.paths.models_dir / "SmolLM2-135M-Instruct.Q8_0.gguf"  # the bundled model's dir is read-only
        assert dialog.query_one("#quantize-output", Input).value == str(expected)
        await pilot.press("enter")  # Q8_0, the first type, is highlighted
        await wait_for(pilot, lambda: app.screen is app.main_screen, timeout=120)
        assert expected.is_file()
        await wait_for(pilot, lambda: str(expected) in keys(app) and not app.catalog.scanning)
        row = app.catalog.row_text(expected)
        assert row[0][0] == SIBLING and row[2] == "Q8_0"
        assert app.catalog.current_key() == str(expected)  # the new row is highlighted


@pytest.mark.engine
async def test_quantize_escape_cancels_and_removes_the_partial_file(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None, n_threads=1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, default_model)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuantizeDialog))
        dialog = app.screen
        out = Path(dialog.query_one("#quantize-output", Input).value)
        await pilot.press("enter")
        await wait_for(pilot, lambda: dialog.running)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not dialog.running, timeout=60)
        await settle(pilot)
        assert app.screen is dialog
        assert "Cancelled" in str(dialog.query_one("#quantize-status", Static).render())
        assert not out.exists() and not out.with_name(out.name + ".part").exists()
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)


@pytest.mark.engine
async def test_delete_asks_then_removes_a_copied_file_and_refuses_the_default(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    victim = app.paths.models_dir / "victim.Q8_0.gguf"
    victim.write_bytes(tiny_model("Victim"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, victim)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await settle(pilot)
        assert victim.exists()
        await select(pilot, app, victim)
        await pilot.press("delete")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_for(pilot, lambda: not victim.exists() and str(victim) not in keys(app))
        assert not victim.exists() and str(victim) not in keys(app)
        # the bundled default model: refused, without even asking
        await select(pilot, app, default_model)
        await pilot.press("delete")
        await wait_for(pilot, lambda: any("never deleted" in n.message for n in app._notifications))
        assert app.screen is app.main_screen and default_model.exists()
        assert any("never deleted" in n.message for n in app._notifications)
