"""paint_now, repaint: changed lines go straight to the terminal only when nothing else is waiting or on top."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.screen import ModalScreen
from textual.widgets import Static

from edgetui.ui import _textual
from edgetui.ui._textual import paint_now, repaint
from edgetui.ui.chat.live_tail import LiveTail
from tests.ui.helpers import settle, wait_for
from tests.ui.screen_text import screen_lines
from tests.ui.textual_path import internals


class TailApp(App):
    def compose(self) -> ComposeResult:
        yield LiveTail()


class Modal(ModalScreen):
    def compose(self) -> ComposeResult:
        yield Static("on top")


async def _tail_with_lines(pilot, n: int) -> LiveTail:
    tail = pilot.app.query_one(LiveTail)
    tail.set_text("\n".join(f"line {i}" for i in range(n)))
    await settle(pilot)
    return tail


@internals
async def test_a_settled_screen_takes_the_changed_lines_directly():
    async with TailApp().run_test(size=(40, 20)) as pilot:
        tail = await _tail_with_lines(pilot, 5)
        tail.refresh(Region(0, 4, 40, 1))
        assert paint_now(tail)
        assert not tail._repaint_required  # nothing left for Textual's next screen update
        assert not paint_now(tail)  # nothing waiting: nothing to paint


@internals
async def test_lines_under_a_notification_are_left_to_textual():
    async with TailApp().run_test(size=(40, 20), notifications=True) as pilot:
        tail = await _tail_with_lines(pilot, 20)
        pilot.app.notify("covering the bottom right", timeout=30)
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("Toast")))  # shown
        await pilot.wait_for_scheduled_animations()  # and done sliding in
        tail.refresh()
        await pilot.pause()  # what the layouts left waiting is repainted
        tail.refresh(Region(0, 0, 40, 2))  # top lines: not covered
        assert paint_now(tail)
        tail.refresh(Region(0, 17, 40, 2))  # where the toast is
        assert not paint_now(tail)
        assert tail._repaint_required


async def test_a_pending_layout_or_another_screen_defers_to_textual():
    async with TailApp().run_test(size=(40, 20)) as pilot:
        tail = await _tail_with_lines(pilot, 5)
        tail.refresh(layout=True)
        tail.refresh(Region(0, 0, 40, 1))
        assert not paint_now(tail)
        await settle(pilot)
        pilot.app.push_screen(Modal())
        await settle(pilot)
        tail.refresh(Region(0, 0, 40, 1))
        assert not paint_now(tail)


@internals
async def test_repaint_paints_a_settled_screen_without_a_refresh_and_defers_otherwise():
    async with TailApp().run_test(size=(40, 20)) as pilot:
        tail = await _tail_with_lines(pilot, 5)
        refreshed: list[tuple] = []
        shown: list = []
        refresh, display = tail.refresh, pilot.app._display
        tail.refresh = lambda *regions, **kwargs: (refreshed.append(regions), refresh(*regions, **kwargs))[1]
        pilot.app._display = lambda screen, update: (shown.append(update), display(screen, update))[1]
        assert repaint(tail, Region(0, 4, 40, 1))
        assert not refreshed and not tail._repaint_required  # no refresh: nothing for the widget's queue
        assert [strip.text.rstrip() for [strip] in shown[-1].strips] == ["line 4"] and shown[-1].region.y == 4
        tail.refresh(layout=True)
        refreshed.clear()
        assert not repaint(tail, Region(0, 0, 40, 1))  # a layout is waiting: Textual repaints it
        assert refreshed == [(Region(0, 0, 40, 1),)] and tail._repaint_required


async def test_the_public_path_leaves_every_repaint_to_textual(monkeypatch):
    monkeypatch.setattr(_textual, "_public", "a test of the public path")
    async with TailApp().run_test(size=(40, 20)) as pilot:
        tail = await _tail_with_lines(pilot, 5)
        tail.refresh(Region(0, 4, 40, 1))
        assert not paint_now(tail)
        assert not repaint(tail, Region(0, 3, 40, 1))
        assert tail._repaint_required  # Textual's next screen update paints both
        await settle(pilot)
        assert not tail._repaint_required
        tail.set_text("line 0\nother")
        await settle(pilot)
        assert [line.rstrip() for line in screen_lines(pilot.app)][:2] == ["line 0", "other"]


async def test_an_exception_inside_falls_back_to_textual_for_good(monkeypatch, caplog):
    monkeypatch.setattr(_textual, "_public", None)
    monkeypatch.setattr(_textual, "_failed", False)
    async with TailApp().run_test(size=(40, 20)) as pilot:
        tail = await _tail_with_lines(pilot, 5)
        display = pilot.app._display

        def broken(screen, update):  # (Textual's own frames still go through)
            if type(update).__name__ == "LayoutUpdate":
                raise AttributeError("'App' object has no attribute '_something_new'")
            display(screen, update)

        pilot.app._display = broken
        tail.refresh(Region(0, 4, 40, 1))
        assert not paint_now(tail)  # the exception stays inside
        assert not _textual.fast() and "paint_now raised AttributeError" in (_textual.public_reason() or "")
        assert "no longer used" in caplog.text
        assert tail._repaint_required  # left to Textual
        assert not repaint(tail, Region(0, 0, 40, 1))  # and everything after it
        tail.set_text("line 0\nother")
        await settle(pilot)
        assert not tail._repaint_required
        assert [line.rstrip() for line in screen_lines(pilot.app)][:2] == ["line 0", "other"]
