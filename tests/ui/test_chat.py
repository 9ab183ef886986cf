"""Pilot tests of the first chat: type, Enter, see the answer stream in; Escape stops; errors are shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.engines.llama import LlamaEngine
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import (
    SIZE,
    footer,
    make_app,
    messages,
    status,
    wait_answer_words,
    wait_for,
    wait_idle,
    wait_loaded,
    wait_new_answer,
)


async def test_prompt_streams_answer_with_fake_engine() -> None:
    engine = FakeEngine("Paris is the capital of France.")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"Capital of France?")
        await pilot.press("enter")
        await wait_new_answer(pilot, app, None)
        views = messages(app)
        assert [v.role for v in views] == ["user", "assistant"]
        assert views[0].text == "Capital of France?"
        assert views[1].text == "Paris is the capital of France."
        assert engine.requests[0][-1].content == "Capital of France?"
        assert app.chat.query_one("#prompt").text == ""


async def test_what_start_up_made_is_kept_out_of_the_collectors_way() -> None:
    """gc.freeze() once the app has started: a full collection no longer walks the widgets while an answer streams."""
    import gc

    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # the next app in this process starts from a normal collector


async def test_newline_key_does_not_send() -> None:
    engine = FakeEngine()
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("a", "ctrl+j", "b")
        assert app.chat.query_one("#prompt").text == "a\nb"
        assert engine.requests == []


async def test_escape_stops_and_keeps_partial_answer() -> None:
    engine = FakeEngine(" ".join(f"w{i}" for i in range(400)), delay=0.01)
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        await pilot.press("escape")
        await wait_idle(pilot, app)
        answer = messages(app)[-1]
        assert answer.text.startswith("w0 w1")
        assert len(answer.text.split()) < 400
        assert "stopped" in footer(answer)


async def test_the_prompt_cursor_stays_still_while_an_answer_streams() -> None:
    """No blinking (a repaint twice a second) while llama.cpp needs every core; it blinks again afterwards."""
    app = make_app(FakeEngine(" ".join(f"w{i}" for i in range(300)), delay=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        prompt = app.chat.query_one("#prompt")
        assert prompt.cursor_blink
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        assert not prompt.cursor_blink  # TextArea pauses its blink timer
        await pilot.press("escape")
        await wait_idle(pilot, app)
        assert prompt.cursor_blink


async def test_load_failure_is_shown_and_app_keeps_running() -> None:
    app = make_app(FakeEngine(fail_load="broken.gguf is not a GGUF file"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "not a GGUF file" in status(app))
        assert "not a GGUF file" in status(app)
        await pilot.press(*"hi", "enter")
        await wait_for(pilot, lambda: "No model is loaded" in status(app))
        assert messages(app) == []


@pytest.mark.engine
async def test_real_engine_answers_in_the_app(default_model: Path) -> None:
    app = make_app(LlamaEngine(), model=default_model, n_ctx=1024, n_threads=2)
    app.sampler = app.sampler.greedy(max_tokens=24)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        assert app.engine.info is not None
        await pilot.press(*"What is 2+2?", "enter")
        answer = await wait_new_answer(pilot, app, None, timeout=120)
        assert answer.role == "assistant"
        assert answer.text.strip()
        assert "tok/s" in footer(answer)
        runs = app.store.runs()
        assert len(runs) == 1 and runs[0]["gen_tokens"] > 0 and runs[0]["quant"] == "Q4_1"
        assert app.store.thread(runs[0]["session_id"])[-1].content == answer.text
    app.engine.unload()
