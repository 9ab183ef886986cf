"""Where the keyboard goes: the prompt after Ctrl+N, a dialog or a load; Tab by pane; letters never lost or misread."""

from __future__ import annotations

from textual import events
from textual.selection import Selection
from textual.widgets import DataTable

from edgetui.ui.chat.message_list import MessageList
from edgetui.ui.chat.message_view import MessageView
from edgetui.ui.chat.prompt_input import PromptInput
from edgetui.ui.screens.main_screen import MainScreen
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import make_app, messages, say, settle, wait_for, wait_idle, wait_loaded

WIDE = (120, 40)  # the catalog is shown
SENTENCE = "three hats sit quietly; dogs run, quick red doors shut"  # h s d q r: each a catalog key


async def _ask(pilot, app, text: str = "hello") -> None:
    await say(pilot, app, text)
    await settle(pilot)


async def test_ctrl_n_from_the_catalog_puts_the_keyboard_in_the_prompt() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await wait_for(pilot, lambda: app.catalog.table.row_count > 0, what="the catalog's first scan")
        app.catalog.table.focus()
        await pilot.press("ctrl+n")
        await pilot.press(*SENTENCE)
        assert isinstance(app.focused, PromptInput)
        assert app.chat.prompt.text == SENTENCE
        assert app.screen is app.main_screen  # no Hub, details or quantize screen opened
        assert app.catalog.sort_key == "name"  # `s` did not sort


async def test_closing_a_dialog_opened_from_the_catalog_returns_to_the_prompt() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await wait_for(pilot, lambda: app.catalog.table.row_count > 0, what="the catalog's first scan")
        app.catalog.table.focus()
        await pilot.press("d")
        await wait_for(pilot, lambda: not isinstance(app.screen, MainScreen), what="the model details screen")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the main screen back")
        assert isinstance(app.focused, PromptInput)
        await pilot.press(*"hi")
        assert app.chat.prompt.text == "hi"


async def test_closing_the_settings_dialog_returns_to_the_prompt() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        app.chat.message_list.focus()
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.screen is not app.main_screen, what="the settings dialog")
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the main screen back")
        assert isinstance(app.focused, PromptInput)


async def test_loading_a_model_from_the_catalog_puts_the_keyboard_in_the_prompt() -> None:
    app = make_app(FakeEngine("ok"), model=None)
    async with app.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: app.catalog.table.row_count > 0, what="the catalog's first scan")
        table = app.catalog.query_one(DataTable)
        table.focus()
        await pilot.press("enter")
        await wait_loaded(pilot, app)
        await wait_for(pilot, lambda: isinstance(app.focused, PromptInput), what="the focus in the prompt")


async def test_tab_goes_prompt_conversation_catalog_not_through_every_message() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        for i in range(3):
            await _ask(pilot, app, f"question {i}")
        assert isinstance(app.focused, PromptInput)
        order = []
        for _ in range(3):
            await pilot.press("tab")
            order.append(type(app.focused).__name__)
        assert order == ["MessageList", "CatalogTable", "PromptInput"]
        await pilot.press("shift+tab")
        assert isinstance(app.focused, DataTable)
        await pilot.press("shift+tab")
        assert isinstance(app.focused, MessageList)
        await pilot.press("up")  # onto a message, then Tab leaves the conversation
        assert isinstance(app.focused, MessageView)
        await pilot.press("tab")
        assert isinstance(app.focused, DataTable)
        await pilot.press("escape")  # nothing to stop: back to the prompt
        assert isinstance(app.focused, PromptInput)


async def test_a_message_s_letter_keys_need_a_deliberate_move_onto_it() -> None:
    engine = FakeEngine("ok")
    app = make_app(engine)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await _ask(pilot, app)
        await pilot.press("tab")  # the conversation as a whole: `r` is a letter, not "regenerate"
        assert isinstance(app.focused, MessageList)
        await pilot.press(*"really")
        assert len(engine.requests) == 1
        assert isinstance(app.focused, PromptInput) and app.chat.prompt.text == "really"
        app.chat.prompt.text = ""
        await pilot.press("tab", "up")  # a deliberate move onto the answer
        assert app.focused is messages(app)[-1]
        await pilot.press("r")
        await wait_for(pilot, lambda: len(engine.requests) == 2, what="the regenerated answer's request")
        await wait_idle(pilot, app)


async def test_a_click_on_a_message_leaves_the_keyboard_in_the_prompt() -> None:
    engine = FakeEngine("ok")
    app = make_app(engine)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await _ask(pilot, app)
        await pilot.click(MessageView, offset=(3, 1))
        assert isinstance(app.focused, PromptInput)
        await pilot.press("r")
        assert len(engine.requests) == 1 and app.chat.prompt.text == "r"


async def test_page_keys_scroll_the_conversation_from_the_prompt() -> None:
    app = make_app(FakeEngine(" ".join(f"w{i}" for i in range(200))))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        for i in range(3):
            await _ask(pilot, app, f"q{i}")
        lst = app.chat.message_list
        end = lst.scroll_y
        assert end == lst.max_scroll_y > 0
        await pilot.press("pageup")
        assert lst.scroll_y < end
        await pilot.press("home")  # an empty prompt: Home is the conversation's
        assert lst.scroll_y == 0
        await pilot.press("pagedown")
        assert lst.scroll_y > 0
        await pilot.press("end")
        assert lst.scroll_y == lst.max_scroll_y
        await pilot.press(*"abc", "home", "X")  # with text, Home and End edit the prompt's line
        assert app.chat.prompt.text == "Xabc"
        assert lst.scroll_y == lst.max_scroll_y
        await pilot.press("ctrl+home")  # ... and Ctrl+Home / Ctrl+End scroll
        assert lst.scroll_y == 0
        assert isinstance(app.focused, PromptInput)


async def test_a_mouse_selection_is_copied_and_ctrl_c_copies_it_again() -> None:
    app = make_app(FakeEngine("The answer is forty-two."))
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await _ask(pilot, app)
        body = messages(app)[-1].body.query("MarkdownParagraph").first()
        app.screen.selections = {body: Selection(None, None)}
        app.screen.post_message(events.TextSelected())
        await wait_for(pilot, lambda: app.clipboard == "The answer is forty-two.", what="the selection copied")
        app.copy_to_clipboard("")
        await pilot.press("ctrl+c")
        assert app.clipboard == "The answer is forty-two."
