"""The quantize dialog says, before Enter starts, what requantizing an already quantized file can give."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Label, OptionList, Static

from edgetui.ui.dialogs.quantize_dialog import QuantizeDialog
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, wait_for
from tests.ui.test_catalog_pane import make_app, select, wait_scanned

pytestmark = pytest.mark.engine  # the bundled default model's file (no engine is loaded)


def note(dialog: QuantizeDialog) -> Static:
    return dialog.query_one("#quantize-note", Static)


async def test_the_bundled_q4_1_warns_that_more_bits_give_no_quality_back(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, default_model)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuantizeDialog))
        dialog = app.screen
        title = str(dialog.query_one(".dialog-title", Label).render())
        assert title == "Quantize SmolLM2-135M-Instruct.Q4_1 (Q4_1, 93.8 MiB)"  # sizes in IEC units
        assert str(dialog.query_one(OptionList).get_option_at_index(0).prompt).startswith("Q8_0    ~")
        assert "MiB" in str(dialog.query_one(OptionList).get_option_at_index(0).prompt)
        # Q8_0 is highlighted at first: the strong form, shown as a warning, before anything starts
        assert not dialog.running and note(dialog).display and note(dialog).has_class("-warn")
        assert str(note(dialog).render()) == (
            "SmolLM2-135M-Instruct.Q4_1 is already quantized (Q4_1): a Q8_0 made from it is no better than "
            "Q4_1, only bigger; quantize from an F16/F32 file for real Q8_0 quality."
        )
        await pilot.press("down", "down", "down", "down")  # Q6_K, Q5_K_M, Q5_K_S, then Q4_K_M: fewer bits
        assert dialog.qtype == "Q4_K_M"
        assert note(dialog).display and not note(dialog).has_class("-warn")
        assert "a Q4_K_M made from it is rounded twice" in str(note(dialog).render())
        assert "Q4_K_M" in dialog.query_one("#quantize-output").value  # the path follows as before
        await pilot.press("end")  # F16, the last type: more bits again
        assert dialog.qtype == "F16" and note(dialog).has_class("-warn")
        assert "an F16 made from it is no better than Q4_1" in str(note(dialog).render())
        assert not dialog.running
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_an_f16_source_has_no_note(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        dialog = QuantizeDialog(default_model, "Model.F16", "F16", app.paths.models_dir)
        app.push_screen(dialog)
        await wait_for(pilot, lambda: app.screen is dialog)
        for _ in range(3):
            assert not note(dialog).display and str(note(dialog).render()) == ""
            await pilot.press("down")


async def test_at_80x24_the_list_makes_room_for_the_note(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = QuantizeDialog(default_model, "SmolLM2-135M-Instruct.Q4_1", "Q4_1", app.paths.models_dir)
        app.push_screen(dialog)
        await wait_for(pilot, lambda: app.screen is dialog)
        for key in ("end", "home"):  # F16 (a four-line note at this width), then Q8_0 (three lines)
            await pilot.press(key)
            await pilot.pause()
            box = dialog.query_one(".quantize-dialog").region
            assert note(dialog).display and box.contains_region(note(dialog).region)
            assert box.contains_region(dialog.query_one("#quantize-output").region)
            assert box.contains_region(dialog.query_one(".dialog-hint", Label).region)
