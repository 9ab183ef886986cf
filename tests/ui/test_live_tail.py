"""The live tail of a streaming answer: block boundaries, incremental wrapping, and repaints without layout."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.content import Content

from edgetui.ui.chat import live_tail
from edgetui.ui.chat.live_tail import RESERVE_LINES, LiveTail, block_boundary
from edgetui.ui.chat.message_view import COMMIT_LINES, MessageView
from tests.ui.helpers import settle
from tests.ui.textual_path import internals


def test_block_boundary_after_last_blank_line():
    assert block_boundary("one\n\ntwo") == len("one\n\n")
    assert block_boundary("one\n\ntwo\n\nthr") == len("one\n\ntwo\n\n")
    assert block_boundary("one line") == 0
    assert block_boundary("one\ntwo\n") == 0  # no blank line yet: the paragraph may go on


def test_block_boundary_never_inside_a_code_block():
    text = "Intro\n\n```python\nx = 1\n\ny = 2\n"
    assert block_boundary(text) == len("Intro\n\n")
    closed = text + "```\n"
    assert block_boundary(closed) == len(closed)
    assert block_boundary(closed + "\nafter") == len(closed) + 1
    assert block_boundary("~~~~\na\n\n~~~\nb\n\n") == 0  # a shorter fence does not close a longer one


@given(st.text(alphabet="ab `~\n", max_size=80))
def test_block_boundary_is_a_line_start_within_the_text(text):
    end = block_boundary(text)
    assert 0 <= end <= len(text)
    assert end == 0 or text[end - 1] == "\n"


def content_wrap(text: str, width: int) -> list[str]:
    """What Textual's own wrapping makes of `text`, line by line."""
    return [part.plain for line in text.split("\n") for part in (Content(line).wrap(width) or [Content("")])]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "bb", "word", " ", "  ", "\n", "\t", "x" * 13, "漢", "-"]), max_size=30).map(
        "".join
    ),
    st.integers(min_value=2, max_value=14),  # a wide character does not fit a 1-cell column at all
    st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12),
)
def test_streamed_wrapping_matches_textual(text, width, steps):
    """Token by token, re-wrapping only the end gives the lines Textual's Content.wrap gives all at once."""
    tail = LiveTail()
    tail._width = width
    tail._refresh_lines = lambda first, shown: None  # no app: only the wrapping is under test
    i = 0
    for step in steps * 10:
        i = min(len(text), i + step)
        tail.set_text(text[:i])
        assert tail._lines + tail._last == content_wrap(text[:i], width)  # at every step: lines are reused
        if i == len(text):
            break
    tail.set_text(text)
    assert tail._lines + tail._last == content_wrap(text, width)


def spy_layouts(tail: LiveTail) -> list[bool]:
    """From now on, for each repaint or `tail.refresh`, whether it asks for a screen layout."""
    layouts: list[bool] = []
    refresh, refresh_lines = tail.refresh, tail._refresh_lines

    def spy(*regions, **kwargs):
        layouts.append(kwargs.get("layout", False))
        return refresh(*regions, **kwargs)

    def spy_lines(first: int, shown: int) -> None:
        layouts.append(False)  # (a repaint straight to the terminal calls no refresh)
        refresh_lines(first, shown)

    tail.refresh = spy
    tail._refresh_lines = spy_lines
    return layouts


class TailApp(App):
    def compose(self) -> ComposeResult:
        yield LiveTail()


async def test_tail_wraps_incrementally_like_all_at_once():
    text = "The dragon kneaded the dough slowly.\nShe waited for it to rise, " * 6
    app = TailApp()
    async with app.run_test(size=(30, 40)) as pilot:
        tail = app.query_one(LiveTail)
        rng = random.Random(0)
        i = 0
        while i < len(text):
            i += rng.randint(1, 7)
            tail.set_text(text[:i])
        await settle(pilot)
        streamed = list(tail._lines) + list(tail._last)
        tail.set_text("")
        tail.set_text(text)
        assert streamed == list(tail._lines) + list(tail._last)
        assert all(len(line) <= 30 for line in streamed)
        shown = [tail.render_line(y).text.rstrip() for y in range(tail.line_count)]
        assert "".join(shown).replace(" ", "") == text.replace("\n", "").replace(" ", "")


async def test_tail_height_grows_in_steps_and_tokens_repaint_without_layout():
    app = TailApp()
    async with app.run_test(size=(20, 40)) as pilot:
        tail = app.query_one(LiveTail)
        tail.set_text("word")
        await settle(pilot)
        assert tail.size.height == RESERVE_LINES
        layouts = spy_layouts(tail)
        text = "word"
        while tail.line_count < RESERVE_LINES:
            text += " word"
            tail.set_text(text)
        assert not any(layouts)  # the reserved lines fill in with repaints only
        tail.set_text(text + " word" * 8)
        assert layouts[-1] is True
        await settle(pilot)
        assert tail.size.height == 2 * RESERVE_LINES


class ViewApp(App):
    def compose(self) -> ComposeResult:
        yield MessageView("assistant")


async def test_streamed_answer_ends_as_markdown_with_every_chunk():
    answer = "".join(f"Paragraph {i} has **bold** words and more words.\n\n" for i in range(24)) + "```\ncode\n```"
    app = ViewApp()
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(MessageView)
        committed_midway = False
        for i in range(0, len(answer), 5):
            await view.append(answer[i : i + 5])
            if view._committed > 0 and not committed_midway:
                committed_midway = True
                assert view.tail is not None and view.tail.line_count >= 12  # what moved on was out of sight
                assert view.tail.text.startswith("\n") and not view.tail.text.startswith("\n\n")  # one blank line
        assert committed_midway  # a long answer moves finished blocks on while it streams
        assert view.tail is not None and view.tail.line_count < max(COMMIT_LINES, 3 * 12) + 8
        await view.finish()
        await settle(pilot)
        assert view.text == answer
        assert view.body.source == answer
        assert view.tail is None  # the finished answer keeps no live tail


async def test_a_new_answer_has_room_for_its_first_lines_before_any_text():
    """The layout that places the first lines comes with the answer's mount, not once tokens stream."""
    app = ViewApp()
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(MessageView)
        tail = view.tail
        assert tail is not None and tail.reserve and tail.size.height == RESERVE_LINES
        layouts = spy_layouts(tail)
        await view.append("The first words")
        await view.append(" of the answer.")
        assert layouts and not any(layouts)
        await view.finish()
        await settle(pilot)
        assert view.tail is None and view.body.source == "The first words of the answer."


class SavedViewApp(App):
    def compose(self) -> ComposeResult:
        yield MessageView("assistant", "Earlier text.")


async def test_a_saved_answer_has_no_tail_until_text_streams_into_it():
    app = SavedViewApp()
    async with app.run_test(size=(40, 20)) as pilot:
        view = app.query_one(MessageView)
        assert view.tail is None
        await view.append(" And more.")
        await settle(pilot)
        assert view.tail is not None and view.tail.size.height == RESERVE_LINES
        await view.finish()
        await settle(pilot)
        assert view.tail is None and view.body.source == "Earlier text. And more."


async def test_a_shorter_text_repaints_the_lines_it_leaves_blank(monkeypatch):
    app = TailApp()
    async with app.run_test(size=(20, 40)) as pilot:
        tail = app.query_one(LiveTail)
        tail.set_text("\n".join(["line"] * 7))
        await settle(pilot)
        regions = []
        original = live_tail.repaint

        def spy(widget, region):
            regions.append(region)
            return original(widget, region)

        monkeypatch.setattr(live_tail, "repaint", spy)
        tail.set_text("other\ntext")  # not an extension: same height (one reserve step), fewer lines
        assert tail.size.height == RESERVE_LINES
        assert any(r.y == 0 and r.height >= 7 for r in regions)


async def test_the_tails_own_line_rendering_matches_textuals_styles_cache():
    """`LiveTail.render_lines` skips Textual's styles cache: same strips, in a plain, a focused (another background)
    and a user message, whole and cropped, with and without a line filter."""
    from textual.geometry import Region
    from textual.widget import Widget

    class TwoViews(App):
        CSS = ".message.user { background: $surface; } .message:focus { background: $boost; }"

        def compose(self) -> ComposeResult:
            yield MessageView("assistant")
            yield MessageView("user", "question")

    app = TwoViews()
    async with app.run_test(size=(40, 30)) as pilot:
        views = list(app.query(MessageView))
        for view in views:
            await view.append("Some *text* that wraps over a few lines of the tail.\nAnd a second line.")
        await settle(pilot)
        for step in ("plain", "focus", "monochrome"):
            if step == "focus":
                views[0].focus()
                await settle(pilot)
            if step == "monochrome":  # a filter that changes the lines (NO_COLOR)
                from textual.filter import NoColor

                app._filters.append(NoColor())
            for view in views:
                tail = view.tail
                assert tail is not None
                for crop in (Region(0, 0, tail.size.width, tail.size.height), Region(3, 1, 10, 2)):
                    tail._styles_cache.clear()
                    assert tail.render_lines(crop) == Widget.render_lines(tail, crop)


@internals
async def test_a_held_window_paints_the_lines_it_moves_up_as_textual_would():
    """The finished lines' strips are kept while a held window moves them up a row at a time: after each new line,
    after a restyle (focus) and after a terminal resize, the rows are the ones Textual's styles cache makes."""
    from textual.geometry import Region
    from textual.widget import Widget

    class OneTail(App):
        CSS = "LiveTail:focus { background: $boost; }"

        def compose(self) -> ComposeResult:
            yield LiveTail()

    app = OneTail()
    async with app.run_test(size=(30, 20)) as pilot:
        tail = app.query_one(LiveTail)
        tail.can_focus = True
        text = "\n".join(f"line {i} has a few words that wrap" for i in range(8))
        tail.set_text(text)
        await settle(pilot)
        tail.hold_window()
        assert tail.window

        def same_as_textual() -> list[str]:
            crop = Region(0, 0, tail.size.width, tail.size.height)
            tail._styles_cache.clear()
            ours = tail.render_lines(crop)
            assert ours == Widget.render_lines(tail, crop)
            return [strip.text.rstrip() for strip in ours]

        for i in range(8, 14):
            text += f"\nline {i} has a few words that wrap"
            tail.set_text(text)
            rows = same_as_textual()
            assert tail.hidden and rows[-1] == "wrap" and rows[-2] == f"line {i} has a few words that"
            assert min(tail._strips) >= tail.hidden  # lines that left the window are not kept
        tail.focus()
        await settle(pilot)
        same_as_textual()
        await pilot.resize_terminal(24, 20)
        await settle(pilot)
        assert not tail.window  # a new width: the whole text again, wrapped anew
        assert same_as_textual()[:2] == ["line 0 has a few words", "that wrap"]
