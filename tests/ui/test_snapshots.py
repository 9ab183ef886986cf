"""Snapshot tests of the main screen (their SVGs are also the README's screenshots), at 80x24 and 120x40.

What a snapshot shows must not depend on the machine or the moment: the gauges' samples and token rates are frozen,
the fake engine's timings fixed, toasts cleared, cursors kept from blinking, and the app's home a relative path
(`fixed_home`), the same in every test on every machine."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets._toast import ToastRack  # textual is pinned: the screens' toast racks

from edgetui.core.models.fit import Resources
from edgetui.core.system.token_rate import TokenRate
from edgetui.core.types import Chunk
from tests.core.test_catalog import tiny_model
from tests.ui.fake_engine import FakeEngine, FrozenMetrics
from tests.ui.helpers import make_app, settle, wait_for, wait_loaded, wait_new_answer

ANSWER = """The capital of France is **Paris**. In Python:

```python
capitals = {"France": "Paris"}
print(capitals["France"])
```"""

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
HOME = "edgetui-home"  # EDGETUI_HOME, relative to the test's own directory (the current one)
GIB = 1024**3
RESOURCES = Resources(ram_available=18 * GIB, ram_total=24 * GIB)  # what the fit estimates see as free memory


class FrozenRate(TokenRate):
    """The live tokens/s gauge reads the same at every sample (the real one follows the wall clock)."""

    def rate(self, now: float | None = None) -> float:
        return 42.0

    def smoothed_at(self, now: float) -> float:
        return 40.5

    @property
    def average(self) -> float:
        return 40.5

    @property
    def history(self) -> list[float]:
        return [12.0, 30.0, 38.0, 41.0, 42.0, 40.0, 43.0, 42.0]


@pytest.fixture
def fixed_home(edgetui_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's home as the relative path `edgetui-home` (the test's own directory is the current one), so that
    every path a screen shows reads the same everywhere; the bundled model is a tiny stand-in in `bundled/`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGETUI_HOME", HOME)
    bundled = Path("bundled") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    bundled.parent.mkdir()
    bundled.write_bytes(tiny_model("SmolLM2 135M Instruct", ftype=3, basename="SmolLM2"))
    monkeypatch.setenv("EDGETUI_DEFAULT_MODEL", str(bundled))
    return Path(HOME)


def snapshot_app(engine=None, **kwargs):
    """The app on a fake engine, with frozen gauges and fit resources (call it under `fixed_home`)."""
    kwargs.setdefault("metrics", FrozenMetrics())
    app = make_app(engine or FakeEngine(ANSWER), scan_ollama=False, scan_lmstudio=False, **kwargs)
    app.fit_resources_override = RESOURCES
    app.token_rate = FrozenRate()
    return app


async def ready(pilot, workers: bool = True) -> None:
    """Before a snapshot: everything done (`workers=False`: a worker may still be held), no toast, cursors that
    stay on (a blink would show or hide them by chance)."""
    app = pilot.app
    await settle(pilot, workers=workers)
    app.clear_notifications()
    for screen in app.screen_stack:  # (clear_notifications clears the top screen's; a dialog shows the one below)
        for rack in screen.query(ToastRack):
            rack.show(app._notifications)
    for box in app.screen.query("Input, TextArea"):
        box.cursor_blink = False
    await settle(pilot, workers=workers)


def app_with_answer():
    return make_app(FakeEngine(ANSWER), metrics=FrozenMetrics())


async def _ask(pilot) -> None:
    app = pilot.app
    await wait_loaded(pilot, app)
    await pilot.press(*"What is the capital of France?", "enter")
    await wait_new_answer(pilot, app, None)
    app.chat.query_one("#prompt").focus()
    await ready(pilot)  # ("Loaded ..." would cover the question, at the top, for a few seconds; a blink, the cursor)


def test_main_screen_100x30(snap_compare) -> None:
    assert snap_compare(app_with_answer(), terminal_size=(100, 30), run_before=_ask)


def test_main_screen_80x24(snap_compare) -> None:
    assert snap_compare(app_with_answer(), terminal_size=(80, 24), run_before=_ask)


def test_help_screen(snap_compare) -> None:
    async def open_help(pilot) -> None:
        await wait_loaded(pilot, pilot.app)
        await pilot.press("f1")
        await ready(pilot)  # (no "Loaded ..." toast over the help's title)

    assert snap_compare(app_with_answer(), terminal_size=(100, 30), run_before=open_help)


# -- the main screen at 80x24 and 120x40 ----------------------------------------------------------------------------
STORY = (
    "Once upon a time, a lighthouse keeper kept a notebook of every ship that passed.\n\n"
    "Each night she wrote:\n\n"
    "- the ship's name,\n- the hour it passed,\n- and the colour of its lights.\n\n"
    "One winter a ship came by that had no name at all, and its lights were a colour she had never seen"
    " before, somewhere between green and the grey of the sea at dawn. She waited for it every night after."
)
HELD_AT = 48  # words of STORY shown when the answer is held


class HeldEngine(FakeEngine):
    """Answers STORY, held after `HELD_AT` words until `go` is set (a snapshot of an answer mid-stream)."""

    def __init__(self) -> None:
        super().__init__(STORY)
        self.held, self.go = threading.Event(), threading.Event()

    def stream_chat(self, messages, sampler, cancel=None):
        gen = super().stream_chat(messages, sampler, cancel)
        inner = gen._chunks

        def held() -> Iterator[Chunk]:
            for i, chunk in enumerate(inner):
                if i == HELD_AT - 1:  # the last one before the hold: dated so that the chat shows it at once
                    chunk = Chunk(chunk.text, time.perf_counter() + 1.0, chunk.tokens)
                if i == HELD_AT:
                    self.held.set()
                    self.go.wait(30)
                yield chunk

        gen._chunks = held()
        return gen


def release_after_snapshot(app, engine: HeldEngine) -> None:
    """Let the held answer go on once the screenshot is taken (so that the app can exit at once)."""
    take = app.export_screenshot

    def export_screenshot(*args, **kwargs):
        try:
            return take(*args, **kwargs)
        finally:
            engine.go.set()

    app.export_screenshot = export_screenshot


async def _send(pilot, text: str) -> None:
    app = pilot.app
    await wait_loaded(pilot, app)
    app.chat.prompt.text = text
    await pilot.press("enter")


@SIZES
def test_main_screen_mid_answer(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """An answer held mid-stream: the question at the top, the answer's room below it, the live gauges."""
    engine = HeldEngine()
    app = snapshot_app(engine)
    release_after_snapshot(app, engine)

    async def run_before(pilot) -> None:
        await _send(pilot, "Tell me a short story about a lighthouse.")
        await wait_for(pilot, engine.held.is_set, what="the answer to be held")
        await ready(pilot, workers=False)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


PROMPT = "Reformat this, keeping the lines:\nname:   Ada\nrole:   engineer\n    team: compilers"
LINES_ANSWER = """Here it is, one field a line:

name: Ada
role: engineer
team: compilers

Nothing else changed."""


@SIZES
def test_main_screen_multiline(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """A prompt typed on several lines (its indentation kept, no Markdown) and an answer with its line breaks."""
    app = snapshot_app(FakeEngine(LINES_ANSWER))

    async def run_before(pilot) -> None:
        await _send(pilot, PROMPT)
        await wait_new_answer(pilot, pilot.app, None)
        await ready(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


LONG_LINE = (
    '    print("Please enter a URL to fetch the spelling of the word that you typed in the box above and the '
    'one below it", url)'
)
CODE = f"Here:\n\n```python\ndef fetch(url):\n{LONG_LINE}\n    return url\n```\n\nThe long line wraps."


@SIZES
def test_main_screen_long_code_line(snap_compare, fixed_home: Path, size: tuple[int, int]) -> None:
    """A code line too long for the pane wraps, its continuation marked ↪."""
    app = snapshot_app(FakeEngine(CODE))

    async def run_before(pilot) -> None:
        await _send(pilot, "A function that prints a long line, please.")
        await wait_new_answer(pilot, pilot.app, None)
        await ready(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
