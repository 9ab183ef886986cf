"""Canary: the pinned Textual's internals that edgetui/ui/_textual.py relies on are still there and still work the way
it expects. A failure names what changed; check _textual.py against the new Textual before moving the pin. (The
public path needs none of this: with another Textual the app falls back to it by itself.)"""

from __future__ import annotations

import inspect
import random

import pytest
import rich._wrap
import textual
from textual.app import App, ComposeResult
from textual.geometry import Region, Size
from textual.widgets import Footer, Static

from edgetui.ui import _textual
from edgetui.ui.chat.live_tail import divide_line
from edgetui.ui.chat.message_list import MessageList
from edgetui.ui.widgets.key_footer import KeyFooter
from tests.ui.helpers import settle


def test_the_pinned_textual_is_the_one_the_internals_were_written_for() -> None:
    assert textual.__version__ == _textual.TEXTUAL_VERSION, (
        f"Textual {textual.__version__} is installed; _textual.py was written for {_textual.TEXTUAL_VERSION}: "
        "check each use in it (this file's tests), then update TEXTUAL_VERSION"
    )


def test_every_private_member_is_there_with_its_parameters() -> None:
    problems = _textual.shape_problems()
    assert not problems, "Textual's internals changed shape:\n" + "\n".join(problems)


def test_the_control_character_table_is_the_one_content_strips_with() -> None:
    """Content's strip function holds the table as a default argument: updating it in place reaches every call."""
    from textual import content

    defaults = content._strip_control_codes.__defaults__ or ()
    assert defaults and defaults[0] is content._CONTROL_STRIP_TRANSLATE, (
        "textual.content._strip_control_codes no longer strips with _CONTROL_STRIP_TRANSLATE"
    )
    assert set(_textual.CONTROL_STRIPPED) <= set(content._CONTROL_STRIP_TRANSLATE)


def test_the_footer_key_widget_takes_what_the_key_bar_gives() -> None:
    key_widget = _textual.footer_key()
    assert key_widget is not None, "textual.widgets._footer.FooterKey is gone"
    wanted = ("self", "key", "key_display", "description", "action", "disabled", "tooltip", "classes")
    got = tuple(inspect.signature(key_widget.__init__).parameters)
    assert got == wanted, f"FooterKey.__init__ takes {got}, not {wanted}"


class Probe(App):
    def compose(self) -> ComposeResult:
        yield Static("probe")
        yield KeyFooter()


async def test_live_objects_have_the_attributes_read() -> None:
    app = Probe()
    async with app.run_test(size=(40, 10)) as pilot:
        await settle(pilot)
        widget = app.query_one(Static)
        objects = {"widget": widget, "screen": app.screen, "compositor": app.screen._compositor, "app": app}
        missing = [
            f"{kind}.{name}"
            for kind, names in _textual.INSTANCE_ATTRIBUTES.items()
            for name in names
            if not hasattr(objects[kind], name)
        ]
        assert not missing, f"attributes gone: {missing}"
        assert isinstance(widget._repaint_regions, set), "Widget._repaint_regions is no longer a set"
        assert isinstance(app.screen._compositor.visible_widgets, dict), "visible_widgets is no longer a dict"
        assert isinstance(app.screen._compositor._dirty_regions, set), "Compositor._dirty_regions is no longer a set"
        assert isinstance(app._batch_count, int), "App._batch_count is no longer a count"
        footer = app.query_one(KeyFooter)
        assert footer.bindings_ready and footer._bindings_ready, "Footer's bindings_changed no longer marks it ready"
        assert footer.query("FooterKey"), "the key bar shows no keys"


async def test_a_size_update_without_layout_lays_nothing_out() -> None:
    """OneLayout and GrowsQuietly pass `layout=False`: the new virtual size is kept, and no layout is asked for."""
    app = Probe()
    async with app.run_test(size=(40, 10)) as pilot:
        await settle(pilot)
        widget = app.query_one(Static)
        size, container = widget._size, widget._container_size
        assert not widget._layout_required
        assert widget._size_updated(size, Size(size.width, size.height + 3), container, layout=False)
        assert widget.virtual_size == Size(size.width, size.height + 3)
        assert not widget._layout_required, "Widget._size_updated(layout=False) now asks for a layout"
        assert widget._size_updated(size, Size(size.width, size.height + 5), container, layout=True)
        assert widget._layout_required, "Widget._size_updated(layout=True) no longer asks for a layout"


async def test_paint_now_clears_what_textual_would_repaint() -> None:
    app = Probe()
    async with app.run_test(size=(40, 10)) as pilot:
        await settle(pilot)
        widget = app.query_one(Static)
        widget.refresh(Region(0, 0, 5, 1))
        assert widget._repaint_required and widget._repaint_regions, "Widget.refresh(region) no longer records it"
        if _textual.fast():
            assert _textual.paint_now(widget)
            assert not widget._repaint_required


class Anchored(App):
    def compose(self) -> ComposeResult:
        with MessageList():
            for i in range(30):
                yield Static(f"line {i}")


async def test_the_list_follows_as_textual_s_own_anchor_does() -> None:
    """MessageList.following mirrors Textual's private `_anchored and not _anchor_released`, set and cleared where
    Textual sets and clears it."""
    app = Anchored()
    async with app.run_test(size=(30, 10)) as pilot:
        lst = app.query_one(MessageList)

        def same() -> None:
            assert lst.following == (lst._anchored and not lst._anchor_released), "Textual's anchor changed"

        lst.anchor()
        await settle(pilot)
        same()
        assert lst.following
        lst.scroll_relative(y=-3, animate=False)  # the user scrolls: released
        await settle(pilot)
        same()
        assert not lst.following
        lst.scroll_to(y=lst.max_scroll_y, animate=False)  # back at the end: following again
        await settle(pilot)
        same()
        assert lst.following
        lst.scroll_home(animate=False)
        await settle(pilot)
        same()
        lst.scroll_end(animate=False)
        await settle(pilot)
        same()
        assert lst.following
        lst.anchor(False)
        await settle(pilot)
        same()


@pytest.mark.parametrize("seed", range(5))
def test_the_tail_s_wrapping_is_rich_s(seed: int) -> None:
    """LiveTail wraps as Textual's Content.wrap does, which uses Rich's private `divide_line`."""
    rng = random.Random(seed)
    words = ["a", "word", "longerword", "x" * 25, "日本語", "  ", "tab\t", "é"]
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 20)))
        width = rng.randint(1, 30)
        assert divide_line(text, width) == rich._wrap.divide_line(text, width, fold=True), (text, width)


def test_the_key_bar_knows_when_the_footer_is_ready() -> None:
    assert "bindings_changed" in vars(Footer), "Footer.bindings_changed is gone: KeyFooter never knows it is ready"


def test_the_input_parser_paste_guard_subclasses_is_textual_s() -> None:
    assert _textual.XTermParser.__module__ == "textual._xterm_parser", "textual._xterm_parser.XTermParser is gone"
    for name, wanted in (("feed", ("self", "data")), ("tick", ("self",))):
        got = tuple(inspect.signature(getattr(_textual.XTermParser, name)).parameters)
        assert got == wanted, f"XTermParser.{name} takes {got}, not {wanted}"
    from textual.drivers import linux_driver

    assert hasattr(linux_driver, "XTermParser"), "the Linux driver no longer reads with textual's XTermParser"
