"""A new answer has room down to the bottom of the view under its question: no layout while its first screen fills."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from edgetui.ui.app import EdgeApp
from edgetui.ui.chat.live_tail import RESERVE_LINES, LiveTail

from .fake_engine import FakeEngine
from .helpers import SIZE, make_app, messages, say, settle, wait_for, wait_loaded


def placement(app: EdgeApp) -> tuple[int, int]:
    """Rows from the list's top to the last question, and from the end of the last answer to the list's bottom."""
    lst = app.chat.message_list
    question, answer = messages(app)[-2:]
    view = lst.scrollable_content_region
    return question.region.y - view.y, view.bottom - (answer.region.bottom + answer.styles.margin.bottom)


@pytest.mark.engine
async def test_the_answer_fills_the_view_under_its_question_and_keeps_its_room(
    default_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine: a short answer streams into room laid out before its first token, with no layout after it;
    the question stays at the top and the list does not move at the end."""
    seen: list[tuple[int, bool]] = []  # (reserve, asks for a layout) of each repaint once the answer has text
    refresh, refresh_lines = LiveTail.refresh, LiveTail._refresh_lines

    def spy(self: LiveTail, *regions, **kwargs):
        if self.text:
            seen.append((self.reserve, kwargs.get("layout", False)))
        return refresh(self, *regions, **kwargs)

    def spy_lines(self: LiveTail, first: int, shown: int) -> None:
        if self.text:
            seen.append((self.reserve, False))  # (a repaint straight to the terminal calls no refresh)
        refresh_lines(self, first, shown)

    monkeypatch.setattr(LiveTail, "refresh", spy)
    monkeypatch.setattr(LiveTail, "_refresh_lines", spy_lines)
    app = make_app(None, model=default_model, store=Store.memory(), n_ctx=2048)
    app.sampler = SamplerSettings.greedy(max_tokens=24, seed=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=120)
        await say(pilot, app, "Hello!")  # the list is not empty: earlier messages above
        seen.clear()
        await say(pilot, app, "Name three colours.")
        await settle(pilot)
        assert seen and all(reserve > RESERVE_LINES for reserve, _ in seen)  # the rest of the view, from the start
        assert not any(layout for _, layout in seen)  # 24 tokens fit: every one a repaint of the tail's lines
        assert placement(app) == (0, 0)  # the question at the top, the answer's room down to the bottom
        answer = messages(app)[-1]
        assert answer.text and answer.tail is None  # ended as Markdown


async def test_the_next_question_gives_back_the_room_of_the_last_answer() -> None:
    app = make_app(FakeEngine("Short."))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "One?")
        first = messages(app)[-1]
        await settle(pilot)
        assert first.styles.min_height is not None and first.region.height > 5  # its room is kept
        assert placement(app) == (0, 0)
        await say(pilot, app, "Two?")
        await settle(pilot)
        assert first.styles.min_height is None and first.region.height < 5  # just its text and footer now
        assert placement(app) == (0, 0)


async def test_a_new_session_before_the_answer_begins_keeps_the_question_in_its_own_session() -> None:
    """The generation starts once the answer's room is laid out: Ctrl+N in between does not move the question into
    the new session, and the app is ready for the next one."""
    app = make_app(FakeEngine("Late.", delay=0.01), store=Store.memory())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        chat = app.chat
        first = chat.conv
        await chat.send("Asked in the first session")
        await chat.new_session(app.new_conversation())  # (before the refresh that starts the generation, most likely)
        # (the new session is idle at once: wait for the first one's worker, which still saves its turn)
        await wait_for(pilot, chat.answer_saved.is_set, what="the first session's turn to be saved")
        await settle(pilot)
        assert not chat.generating
        assert chat.conv is not first and not chat.conv.thread
        assert first.session_id is not None
        assert [m.content for m in app.store.thread(first.session_id)][:1] == ["Asked in the first session"]
        await say(pilot, app, "Second")
        assert [m.content for m in chat.conv.thread] == ["Second", "Late."]
