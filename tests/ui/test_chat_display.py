"""The chat as the screen shows it: line breaks kept, prompts verbatim, long code lines visible, the new question in
sight from any scroll position."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual import events

from edgetui.core.engines.llama import LlamaEngine
from edgetui.ui.chat.code_fence import CONTINUED
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import (
    make_app,
    messages,
    say,
    settle,
    wait_answer_words,
    wait_for,
    wait_idle,
    wait_loaded,
    wait_new_answer,
)
from tests.ui.screen_text import chat_lines, find_block
from tests.ui.textual_path import internals

POEM = "Roses are red,\nViolets are blue,\nSugar is sweet.\n\nAnd so are you."
LONG_LINE = '    print("Please enter a URL to fetch the spelling of the word that you typed in the box above", url)'
CODE = f"Here:\n\n```python\ndef fetch(url):\n{LONG_LINE}\n    return url\n```"


async def _send(pilot, app, text: str, timeout: float = 30.0) -> None:
    await say(pilot, app, text, timeout)
    await settle(pilot)


async def test_a_prompt_typed_on_three_lines_shows_three_lines() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"line one", "ctrl+j", *"line two", "ctrl+j", *"    indented three", "enter")
        await wait_new_answer(pilot, app, None)
        await settle(pilot)
        assert messages(app)[0].text == "line one\nline two\n    indented three"
        lines = chat_lines(app)
        assert find_block(lines, ["line one", "line two", "    indented three"]) >= 0, "\n".join(lines)


async def test_pasted_code_in_a_prompt_keeps_its_indentation_and_no_markdown_is_read() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await _send(pilot, app, "def add(a, b):\n    return a + b\n**not bold** [not a link](x) # not a title")
        lines = chat_lines(app)
        block = ["def add(a, b):", "    return a + b", "**not bold** [not a link](x) # not a title"]
        assert find_block(lines, block) >= 0, "\n".join(lines)


async def test_an_answer_written_line_by_line_keeps_its_lines_when_it_ends() -> None:
    app = make_app(FakeEngine(POEM))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await _send(pilot, app, "a poem")
        assert messages(app)[-1].tail is None  # all Markdown now: the end of the answer
        lines = chat_lines(app)
        block = ["Roses are red,", "Violets are blue,", "Sugar is sweet.", "", "And so are you."]
        assert find_block(lines, block) >= 0, "\n".join(lines)


async def test_a_long_code_line_wraps_with_a_mark_and_copies_whole() -> None:
    app = make_app(FakeEngine(CODE))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await _send(pilot, app, "code")
        lines = chat_lines(app)
        shown = "\n".join(lines)
        assert 'box above", url)' in shown, shown  # the end of the long line is on the screen
        assert sum(CONTINUED.strip() in line for line in lines) >= 1, shown
        assert all(len(line) <= app.chat.message_list.region.width for line in lines)
        await pilot.press("tab", "up")  # onto the answer
        answer = messages(app)[-1]
        assert app.focused is answer
        await pilot.press("k")
        assert app.clipboard == f"def fetch(url):\n{LONG_LINE}\n    return url\n"


async def _wheel_up(pilot, widget, times: int) -> None:
    for _ in range(times):
        x, y = widget.region.x + 2, widget.region.y + 2
        widget.post_message(events.MouseScrollUp(widget, 2, 2, 0, -1, 0, False, False, False, screen_x=x, screen_y=y))
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_after_scrolling_up_the_new_question_and_its_answer_come_into_sight(size: tuple[int, int]) -> None:
    engine = FakeEngine(" ".join(f"word{i}" for i in range(80)))
    app = make_app(engine)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot, app)
        for i in range(4):
            await _send(pilot, app, f"question {i}")
        lst = app.chat.message_list
        await _wheel_up(pilot, lst, 20)
        assert lst.scroll_y < lst.max_scroll_y - 10, "the wheel did not scroll the conversation up"
        engine.reply, engine.delay = " ".join(f"slow{i}" for i in range(60)), 0.02
        app.chat.prompt.text = "the question after scrolling"
        await pilot.press("enter")
        await wait_answer_words(pilot, app, 3)
        question = messages(app)[-2]
        assert question.text == "the question after scrolling"
        await wait_for(pilot, lambda: question.region.overlaps(lst.region), what="the new question in sight")
        assert question.region.y <= lst.region.y + 1  # at the top of the view, its answer below it
        await wait_idle(pilot, app)


@pytest.mark.engine
async def test_the_real_model_s_line_breaks_stay_on_the_screen(default_model: Path) -> None:
    """A real answer through llama.cpp: every line it wrote is a line on the screen once it is finished."""
    app = make_app(LlamaEngine(), model=default_model, n_ctx=1024, n_threads=2)
    app.sampler = app.sampler.greedy(max_tokens=80)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        await _send(pilot, app, "Write a numbered list of three fruits, one per line.")
        text = messages(app)[-1].text
        written = [line.strip() for line in text.split("\n") if line.strip()]
        assert len(written) >= 2, text
        screen = "\n".join(chat_lines(app))
        for line in written[:3]:
            words = line.split()[-1].strip("*_`")  # Markdown may restyle the start (a list marker), not the end
            assert any(row.rstrip().endswith(words) for row in screen.split("\n")), (line, screen)
    app.engine.unload()


@internals
async def test_a_wheel_turn_as_an_answer_ends_still_scrolls() -> None:
    """Until the next frame the screen sends the wheel's events to the widget under the pointer as it was: the end
    of the answer, removed when the answer ends. They reach the conversation all the same."""
    app = make_app(FakeEngine(" ".join(f"word{i}" for i in range(300)), delay=0.005))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        await _send(pilot, app, "first")
        app.chat.prompt.text = "second"
        await pilot.press("enter")
        await wait_answer_words(pilot, app, 5)
        tail = messages(app)[-1].tail
        assert tail is not None
        await wait_idle(pilot, app)
        assert not tail.is_attached  # the answer ended: its tail is gone
        lst = app.chat.message_list
        before = lst.scroll_y
        event = events.MouseScrollUp(tail, 2, 2, 0, -1, 0, False, False, False, screen_x=4, screen_y=4)
        tail._forward_event(event)  # as the screen does with the map of the frame before
        await wait_for(pilot, lambda: lst.scroll_y < before, what="the conversation scrolled up")
