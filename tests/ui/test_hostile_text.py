"""Text from a model, a server, a file name or the database never reaches the terminal with its escape sequences:
shown as marks on every path (streaming tail, Markdown, prompts, footers, status line, toasts, catalog, header),
stored unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetui.config import Endpoint
from edgetui.core.store.store import Store
from tests.fake_openai_server import FakeOpenAIServer
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import footer, make_app, messages, say, settle, status, wait_answer_words, wait_for, wait_loaded
from tests.ui.screen_text import screen_lines
from tests.ui.textual_path import internals

OSC52, TITLE, CLEAR = "\x1b]52;c;SGFja2Vk\x07", "\x1b]0;PWNED\x07", "\x1b[2J"
HOSTILE = f"Sure {OSC52} here {TITLE} and {CLEAR} done \x9b31m red"
SHOWN = "␛]52;c;SGFja2Vk␇"


def _screen(app) -> str:
    return "\n".join(screen_lines(app))


def _clean(app) -> str:
    """The whole screen, asserted to hold no control character (what would reach the terminal as a command)."""
    shown = _screen(app)
    bad = sorted({f"{ord(ch):#x}" for ch in shown if ord(ch) < 0x20 and ch != "\n" or 0x7F <= ord(ch) < 0xA0})
    assert not bad, f"control characters on the screen: {bad}\n{shown}"
    return shown


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


async def test_a_model_s_escape_sequences_are_shown_while_streaming_and_after_and_stored_unchanged() -> None:
    store = Store.memory()
    app = make_app(FakeEngine(HOSTILE + " " + " ".join(f"w{i}" for i in range(200)), delay=0.005), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"hi", "enter")
        await wait_answer_words(pilot, app, 12)
        assert messages(app)[-1].tail is not None  # mid-answer: the plain-text tail
        assert SHOWN in _clean(app)
        await wait_for(pilot, lambda: not app.chat.generating, what="the end of the answer")
        await settle(pilot)
        assert messages(app)[-1].tail is None and SHOWN in _clean(app)  # the Markdown
        saved = store.thread(app.chat.conv.session_id)[-1].content
        assert saved.startswith(HOSTILE)  # stored as the model wrote it


async def test_a_hostile_prompt_a_reopened_session_and_its_title_are_shown_as_marks() -> None:
    store = Store.memory()
    app = make_app(FakeEngine(HOSTILE), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, f"pasted {TITLE} text")
        session = app.chat.conv.session_id
        await pilot.press("ctrl+n")
        await app._session_chosen(session)
        await wait_for(pilot, lambda: len(messages(app)) == 2, what="the reopened session")
        await settle(pilot)
        shown = _clean(app)
        assert "␛]0;PWNED␇" in shown and SHOWN in shown
        await pilot.press("ctrl+s")  # the sessions list: the title is the first prompt
        await wait_for(pilot, lambda: app.screen is not app.main_screen, what="the sessions screen")
        await settle(pilot)
        assert "␛]0;PWNED" in _clean(app)


async def test_toasts_the_status_line_and_footers_show_marks() -> None:
    app = make_app(FakeEngine("ok"))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "hi")
        app.clear_notifications()
        app.notify(f"a file [b]named[/b] {TITLE}", title=CLEAR, timeout=60)
        app.chat.set_status(f"the server said {OSC52}", warn=True)
        messages(app)[-1].set_footer(f"error: {CLEAR}", warn=True)
        await settle(pilot)
        await wait_for(pilot, lambda: "PWNED" in _screen(app), what="the toast")
        shown = _clean(app)
        assert "a file [b]named[/b] ␛]0;PWNED␇" in shown  # no markup read either
        assert "␛[2J" in shown


async def test_a_server_s_stream_and_its_error_message_are_shown_as_marks(server: FakeOpenAIServer) -> None:
    server.chunks = ["Hello ", OSC52, " there ", TITLE, " end"]
    endpoint = Endpoint(name="evil", base_url=f"{server.url}/v1", model="fake-model")
    store = Store.memory()
    app = make_app(FakeEngine(), model=None, store=store, endpoints=(endpoint,))
    async with app.run_test(size=(120, 40)) as pilot:
        app.load_model("openai:evil/fake-model")
        await wait_loaded(pilot, app)
        await say(pilot, app, "hi")
        await settle(pilot)
        assert SHOWN in _clean(app)
        assert store.thread(app.chat.conv.session_id)[-1].content == "".join(server.chunks)
        server.reset("500")
        server.error_message = f"overloaded {TITLE}{CLEAR}"
        await say(pilot, app, "again")
        await settle(pilot)
        shown = _clean(app)
        assert "␛]0;PWNED␇␛[2J" in shown, shown
        assert "␛]0;PWNED" in footer(messages(app)[-1]) or "␛]0;PWNED" in status(app)


async def test_file_names_with_escape_sequences_in_the_catalog_and_header(tmp_path: Path) -> None:
    from edgetui.paths import Paths

    models = Paths.from_env().ensure().models_dir
    evil = models / f"evil{TITLE}.gguf"
    evil.write_bytes(b"not a gguf file")
    app = make_app(FakeEngine("ok"), model=evil)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await wait_for(pilot, lambda: app.catalog.find(evil) is not None, what="the file in the catalog")
        app.catalog.table.focus()
        app.catalog.table.move_cursor(row=app.catalog.table.get_row_index(str(evil)))
        await settle(pilot)
        shown = _clean(app)
        assert "evil␛]0;PWNED␇" in shown  # the header's model name, the catalog row or its status line
        assert "evil␛" in app.sub_title


@internals
def test_textual_shows_control_characters_as_marks_on_the_pinned_version() -> None:
    """The safety net under the widgets' own `visible()`: any Content Textual builds from text."""
    from textual.content import Content

    from edgetui.ui._textual import show_control_characters

    assert show_control_characters()  # textual is pinned to a version this was checked against
    assert Content(f"a{OSC52}b").plain == "a␛]52;c;SGFja2Vk␇b"
    assert Content("line\r\nnext").plain == "line\nnext"  # (CR still deleted, as Textual does)
