"""A long session keeps only its last messages mounted; scrolling up, a click or Up shows earlier ones in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.store.store import Store
from edgetui.ui.chat.chat_history import ChatHistory, EarlierMarker
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, make_app, messages, say, settle, wait_for, wait_loaded


@pytest.fixture
def small_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ChatHistory, "WINDOW", 6)
    monkeypatch.setattr(ChatHistory, "SLACK", 2)
    monkeypatch.setattr(ChatHistory, "STEP", 4)


def marker_text(app) -> str:
    markers = list(app.chat.message_list.query_children(EarlierMarker))
    return str(markers[0].render()) if markers else ""


async def test_a_long_session_unmounts_its_oldest_messages_and_shows_them_again(small_window: None) -> None:
    engine = FakeEngine("Fine, thanks.")
    app = make_app(engine, store=Store.memory())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        for i in range(6):
            await say(pilot, app, f"Question {i}")
        await settle(pilot)
        views = messages(app)
        # 12 messages: past WINDOW + SLACK (8) after the 5th turn, trimmed to the last 6; the 6th turn made it 8
        assert [v.text for v in views if v.role == "user"] == ["Question 2", "Question 3", "Question 4", "Question 5"]
        assert app.chat.hidden == 4
        assert marker_text(app).startswith("▲ 4 earlier messages")
        assert len(app.chat.conv.thread) == 12  # all still in the conversation (and the database)

        lst = app.chat.message_list
        first = views[0]
        y = first.virtual_region.y  # below the marker
        lst.scroll_home(animate=False, immediate=True)  # as the wheel does: the list posts ReachedTop
        await wait_for(pilot, lambda: app.chat.hidden == 0)
        await settle(pilot)  # laid out, and the list's offset kept
        views = messages(app)
        assert [v.text for v in views if v.role == "user"][:2] == ["Question 0", "Question 1"]
        assert not list(lst.query_children(EarlierMarker))  # all shown: no marker
        assert first.region.y == lst.region.y + y  # the lines seen at the top are still there
        assert not lst.following


async def test_up_on_the_first_shown_message_shows_the_one_before(small_window: None) -> None:
    app = make_app(FakeEngine("Yes."), store=Store.memory())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        for i in range(5):
            await say(pilot, app, f"Q{i}")
        await settle(pilot)
        assert app.chat.hidden == 4
        first = messages(app)[0]
        first.focus()
        await pilot.press("up")
        await settle(pilot)
        focused = app.screen.focused
        assert focused is not first and focused.text == "Yes."  # the answer to Q1, shown again
        assert app.chat.hidden == 0
        assert marker_text(app) == ""
        await pilot.press("down")  # ↑/↓ move between messages (the list does not take them to scroll)
        await settle(pilot)
        assert app.screen.focused is first


async def test_opening_a_long_session_mounts_its_last_messages(small_window: None) -> None:
    store = Store.memory()
    app = make_app(FakeEngine("Sure."), store=store)
    async with app.run_test(size=(100, 40)) as pilot:  # all of it fits: no scrolling up, a click on the marker
        await wait_loaded(pilot, app)
        for i in range(4):
            await say(pilot, app, f"Q{i}")
        session = app.chat.conv.session_id
        await app.chat.new_session(app.new_conversation())
        from edgetui.core.chat.conversation import Conversation

        await app.chat.open_session(Conversation.open(store, session))
        await settle(pilot)
        assert len(messages(app)) == 6
        assert app.chat.hidden == 2
        marker = app.chat.message_list.query_children(EarlierMarker).first()
        assert app.chat.message_list.max_scroll_y == 0
        await pilot.click(marker)
        await wait_for(pilot, lambda: app.chat.hidden == 0)
        assert [v.text for v in messages(app)][:2] == ["Q0", "Sure."]


@pytest.mark.engine
async def test_memory_of_a_long_session_with_the_real_engine(default_model: Path, small_window: None) -> None:
    """The real engine: after 6 turns, 6 messages are mounted and the answers shown again are the saved ones."""
    from edgetui.core.types import SamplerSettings

    app = make_app(None, model=default_model, store=Store.memory(), n_ctx=2048)
    app.sampler = SamplerSettings.greedy(max_tokens=6, seed=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=120)
        for i in range(6):
            await say(pilot, app, f"Say the number {i}.")
        answers = [m.content for m in app.chat.conv.thread if m.role == "assistant"]
        assert len(messages(app)) == 8 and app.chat.hidden == 4
        await app.chat.show_earlier(10)
        await settle(pilot)
        assert [v.text for v in messages(app) if v.role == "assistant"] == answers
        assert all(answers)


async def test_a_held_up_key_walks_back_one_message_per_press_into_the_earlier_ones(small_window: None) -> None:
    """Key repeats arrive faster than a focus change is applied: each press still moves one message, and past the
    first one shown, the earlier ones are shown."""
    from textual import events

    app = make_app(FakeEngine("Yes."), store=Store.memory())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        for i in range(5):
            await say(pilot, app, f"Q{i}")
        messages(app)[-1].focus()
        await settle(pilot)
        for _ in range(8):  # queued at once, as a held key's repeats are
            app.post_message(events.Key("up", None))
        await settle(pilot)  # every key handled, and what each one started
        views = messages(app)
        assert app.chat.hidden == 0 and views[0].text == "Q0"
        assert views.index(app.screen.focused) == 1  # 8 messages up from the last (the answer to Q4, of 10)
