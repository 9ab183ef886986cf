"""Pilot tests of the chat that people keep using: regenerate, edit, branches, sessions, settings, copy, overflow."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette

from edgetui.core.store.store import Store
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from edgetui.ui.dialogs.settings_dialog import SettingsDialog
from edgetui.ui.screens.sessions_screen import SessionsScreen
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import (
    SIZE,
    footer,
    make_app,
    messages,
    say,
    settle,
    status,
    wait_answer_words,
    wait_for,
    wait_loaded,
    wait_new_answer,
)


async def test_every_turn_is_saved_and_new_session_starts_empty() -> None:
    app = make_app(FakeEngine("Saved answer."))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "first question")
        first_session = app.chat.conv.session_id
        thread = app.store.thread(first_session)
        assert [(m.role, m.content, m.status) for m in thread] == [
            ("user", "first question", "complete"),
            ("assistant", "Saved answer.", "complete"),
        ]
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert messages(app) == []
        await say(pilot, app, "second")
        assert app.chat.conv.session_id != first_session
        assert len(app.store.list_sessions()) == 2


async def test_regenerate_keeps_the_earlier_answer_as_a_sibling() -> None:
    engine = FakeEngine("one")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "question")
        engine.reply = "two"
        first = messages(app)[-1]
        await pilot.press("ctrl+r")
        await wait_new_answer(pilot, app, first)
        views = messages(app)
        assert [v.text for v in views] == ["question", "two"]
        assert views[-1].branch == (2, 2)
        assert len(engine.requests) == 2 and engine.requests[1] == engine.requests[0]
        # ← on the focused answer goes back to the first one
        views[-1].focus()
        await pilot.press("left")
        await wait_for(pilot, lambda: messages(app)[-1].text == "one")
        await settle(pilot)
        assert messages(app)[-1].branch == (1, 2)


async def test_edit_resends_as_a_new_branch() -> None:
    engine = FakeEngine("answer")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "helo")
        await pilot.press("ctrl+e")
        await settle(pilot)
        assert app.chat.query_one("#prompt").text == "helo"
        assert "editing" in status(app)
        app.chat.query_one("#prompt").text = "hello"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not app.chat.generating and len(engine.requests) == 2)
        views = messages(app)
        assert [v.text for v in views] == ["hello", "answer"]
        assert views[0].branch == (2, 2)
        assert engine.requests[1][-1].content == "hello"
        assert all(m.content != "helo" for m in engine.requests[1])


async def test_sessions_screen_opens_a_saved_session() -> None:
    app = make_app(FakeEngine("kept"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "remember the zebra")
        sid = app.chat.conv.session_id
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen))
        await pilot.press("slash", *"zebra")
        await settle(pilot)
        assert list(app.screen.sessions) == [str(sid)]
        await pilot.press("enter")  # leaves the search box
        await pilot.press("enter")  # opens the session
        await wait_for(pilot, lambda: len(messages(app)) == 2)
        assert app.chat.conv.session_id == sid
        assert messages(app)[0].text == "remember the zebra"


async def test_settings_dialog_changes_the_sampler_and_system_prompt() -> None:
    engine = FakeEngine("ok")
    app = make_app(engine)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog))
        dialog = app.screen
        dialog.query_one("#system-prompt").text = "You are terse."
        dialog.query_one("#s-temperature").value = "0.2"
        dialog.query_one("#s-seed").value = "42"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        await settle(pilot)  # (the settings reach the session from the dialog's worker)
        await say(pilot, app, "hi")
        assert engine.samplers[-1].temperature == 0.2 and engine.samplers[-1].seed == 42
        assert engine.requests[-1][0].role == "system" and engine.requests[-1][0].content == "You are terse."
        session = app.store.get_session(app.chat.conv.session_id)
        assert session.system_prompt == "You are terse." and session.sampler["seed"] == 42


async def test_bad_setting_is_refused_with_a_message() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog))
        app.screen.query_one("#s-top_p").value = "abc"
        await pilot.press("ctrl+s")
        await settle(pilot, workers=False)  # (the dialog's worker waits for its answer)
        assert isinstance(app.screen, SettingsDialog)
        assert "top_p must be a number" in str(app.screen.query_one("#settings-error").render())


async def test_copy_uses_the_clipboard(monkeypatch) -> None:
    app = make_app(FakeEngine("Here:\n```python\nprint('hi')\n```\ndone"))
    copied: list[str] = []
    monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "code please")
        await pilot.press("ctrl+y")
        messages(app)[-1].focus()
        await pilot.press("k")
        await settle(pilot)
        assert copied == ["Here:\n```python\nprint('hi')\n```\ndone", "print('hi')\n"]


async def test_context_overflow_offers_to_drop_oldest_turns() -> None:
    engine = FakeEngine("a b c d e f g h")
    app = make_app(engine, n_ctx=180)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        for i in range(4):
            await say(pilot, app, f"turn {i} " + "word " * 12)
        await pilot.press(*"one more question", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")  # "Drop oldest turns"
        await wait_for(pilot, lambda: len(engine.requests) == 5 and not app.chat.generating)
        sent = engine.requests[-1]
        assert sent[-1].content == "one more question"
        assert all("turn 0" not in m.content for m in sent)
        assert app.chat.conv.skip_turns >= 1
        assert len(app.store.thread(app.chat.conv.session_id)) == 10  # nothing deleted


async def test_store_failure_keeps_the_prompt(monkeypatch) -> None:
    from edgetui.core.store.store import StoreError

    store = Store.memory()
    app = make_app(FakeEngine(), store=store)

    def full(*args, **kwargs):
        raise StoreError("The disk is full: could not save to the database.")

    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        monkeypatch.setattr(store, "add_message", full)
        await pilot.press(*"precious words", "enter")
        await wait_for(pilot, lambda: "disk is full" in status(app))
        await settle(pilot)  # the turn's worker has ended, and what it posted is handled
        assert "disk is full" in status(app)  # still said (the context measure does not paint over it)
        assert app.chat.query_one("#prompt").text == "precious words"
        assert messages(app) == []


async def test_stopped_answer_is_saved_as_stopped() -> None:
    app = make_app(FakeEngine(" ".join(["w"] * 300), delay=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.chat.generating)
        answer = app.store.thread(app.chat.conv.session_id)[-1]
        assert answer.status == "stopped" and answer.content.startswith("w w")
        assert "stopped" in footer(messages(app)[-1])


async def test_command_palette_lists_every_action() -> None:
    app = make_app(FakeEngine())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title, _, action in app.PALETTE_ACTIONS:
            assert title in titles
            assert hasattr(app, f"action_{action.split('(')[0]}")
        await say(pilot, app, "a first session")
        assert app.chat.conv.session_id is not None
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"New chat")
        await wait_for(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat.conv.session_id is None)
        assert app.chat.conv.session_id is None


async def test_ctrl_c_stops_the_answer_and_keeps_it() -> None:
    app = make_app(FakeEngine(" ".join(["w"] * 300), delay=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        await pilot.press("ctrl+c")
        await wait_for(pilot, lambda: not app.chat.generating)
        assert app.is_running
        answer = app.store.thread(app.chat.conv.session_id)[-1]
        assert answer.status == "stopped" and answer.content.startswith("w w")


async def test_hang_up_saves_the_partial_answer_then_exits() -> None:
    app = make_app(FakeEngine(" ".join(["w"] * 300), delay=0.01))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        sid = app.chat.conv.session_id
        app._hang_up()  # what SIGHUP (a dropped SSH link) and SIGTERM do
        await wait_for(pilot, lambda: not app.is_running, timeout=15)
    answer = app.store.thread(sid)[-1]
    assert answer.status == "stopped" and answer.content.startswith("w w")
