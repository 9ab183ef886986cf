"""A setting start-up brought into range (more threads than CPUs) is said once in the app, as a warning toast."""

from __future__ import annotations

from edgetui.config import Config
from edgetui.paths import Paths
from edgetui.ui.app import create_app
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import wait_for


async def test_a_clamped_setting_is_said_once_as_a_warning() -> None:
    note = "--threads 1000 is more than the 2 CPU(s) this machine gives edgetui: 2 are used"
    config = Config(n_threads=2, notes=(note,), scan_ollama=False, scan_lmstudio=False)
    app = create_app(config, Paths.from_env().ensure(), engine=FakeEngine("ok"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: any(n.message == note for n in app._notifications), what="the note's toast")
        shown = [n for n in app._notifications if n.message == note]
        assert len(shown) == 1 and shown[0].severity == "warning"
