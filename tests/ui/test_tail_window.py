"""A long answer's tail holds a window once nothing above it is seen: no screen layouts, and scrolling back works."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from textual.widgets import Markdown

from edgetui.core.types import Chunk
from edgetui.ui.chat.message_list import MessageList

from .fake_engine import FakeEngine
from .helpers import make_app, messages, settle, wait_for, wait_idle
from .test_live_tail import spy_layouts
from .textual_path import internals

STORY = " ".join(f"word{i}" + ("\n\n" if i % 37 == 36 else "") for i in range(900))


class GatedEngine(FakeEngine):
    """Streams STORY word by word; stops after `pause_at` words until `go` is set."""

    def __init__(self, pause_at: int) -> None:
        super().__init__(STORY, delay=0.002)
        self.pause_at, self.paused, self.go = pause_at, threading.Event(), threading.Event()

    def stream_chat(self, messages, sampler, cancel=None):
        gen = super().stream_chat(messages, sampler, cancel)
        inner = gen._chunks

        def gated() -> Iterator[Chunk]:
            for i, chunk in enumerate(inner):
                if i == self.pause_at:
                    self.paused.set()
                    self.go.wait(30)
                yield chunk

        gen._chunks = gated()
        return gen


@internals
async def test_a_long_answer_holds_its_window_and_repaints_without_layouts():
    engine = GatedEngine(pause_at=10_000)  # never pauses
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine.info is not None)
        app.chat.query_one("#prompt").text = "Tell a long story."
        await pilot.press("enter")
        await wait_for(pilot, lambda: messages(app)[-1].tail is not None and messages(app)[-1].tail.window > 0)
        tail = messages(app)[-1].tail
        assert tail is not None and tail.window > 0, "the tail never held a window"
        layouts = spy_layouts(tail)
        await wait_for(pilot, lambda: tail.hidden > 2 * tail.window or not app.chat.generating)
        assert tail.hidden > 2 * tail.window  # many lines went by...
        assert not any(layouts)  # ...and none of them laid out the screen
        shown = [tail.render_line(y).text.rstrip() for y in range(tail.window)]
        assert shown[-1] or shown[-2]  # the window ends with the newest lines, not blank rows
        await wait_idle(pilot, app)
        answer = messages(app)[-1]
        assert answer.tail is None
        assert "word899" in answer.text and answer.query_one(Markdown).source == answer.text


@internals
async def test_scrolling_back_while_it_streams_shows_the_lines_above_the_window():
    engine = GatedEngine(pause_at=600)
    app = make_app(engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.engine.info is not None)
        app.chat.query_one("#prompt").text = "Tell a long story."
        await pilot.press("enter")
        await wait_for(pilot, engine.paused.is_set)
        await settle(pilot, workers=False)  # what streamed before the pause is on the screen (the worker waits for go)
        tail = messages(app)[-1].tail
        assert tail is not None and tail.hidden > 0
        lst = app.chat.query_one(MessageList)
        top_line = tail.hidden + (lst.region.y - tail.region.y)  # the text line at the top of the view
        lst.scroll_relative(y=-3, animate=False)
        await wait_for(pilot, lambda: tail.window == 0 and lst.region.y - tail.region.y == top_line - 3)
        assert tail.window == 0  # the tail has its full height again...
        assert lst.region.y - tail.region.y == top_line - 3  # ...and the view moved up by 3 lines of the text
        engine.go.set()
        await wait_idle(pilot, app)
        answer = messages(app)[-1]
        assert "word899" in answer.text and answer.query_one(Markdown).source == answer.text
