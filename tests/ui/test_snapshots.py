"""Snapshot tests of the main screens (their SVGs are also the README's screenshots)."""

from __future__ import annotations

from tests.ui.fake_engine import FakeEngine, FrozenMetrics
from tests.ui.helpers import make_app, settle, wait_loaded, wait_new_answer

ANSWER = """The capital of France is **Paris**. In Python:

```python
capitals = {"France": "Paris"}
print(capitals["France"])
```"""


def app_with_answer():
    return make_app(FakeEngine(ANSWER), metrics=FrozenMetrics())


async def _ask(pilot) -> None:
    app = pilot.app
    await wait_loaded(pilot, app)
    await pilot.press(*"What is the capital of France?", "enter")
    await wait_new_answer(pilot, app, None)
    app.chat.query_one("#prompt").focus()
    app.clear_notifications()  # ("Loaded ..." would cover the question, at the top, for a few seconds)
    await settle(pilot)


def test_main_screen_100x30(snap_compare) -> None:
    assert snap_compare(app_with_answer(), terminal_size=(100, 30), run_before=_ask)


def test_main_screen_80x24(snap_compare) -> None:
    assert snap_compare(app_with_answer(), terminal_size=(80, 24), run_before=_ask)


def test_help_screen(snap_compare) -> None:
    async def open_help(pilot) -> None:
        await wait_loaded(pilot, pilot.app)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(app_with_answer(), terminal_size=(100, 30), run_before=open_help)
