"""The figures under answers and in the gauges: cached prompts, stopped once, kept when reopened or switched, reset
when a new answer starts; and what the context left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import footer, make_app, messages, say, settle, status, wait_answer_words, wait_for, wait_loaded
from tests.ui.screen_text import screen_lines


class CachingEngine(FakeEngine):
    """Reports the prompt as read from the KV cache when it was asked the same messages before (a regenerate)."""

    def stream_chat(self, messages, sampler, cancel=None):
        seen = list(messages) in self.requests
        gen = super().stream_chat(messages, sampler, cancel)
        if seen:
            inner = gen._chunks

            def cached():
                yield from inner
                gen.stats.prompt_eval_tokens, gen.stats.prompt_tps = 0, 0.0

            gen._chunks = cached()
        return gen


def _gauge(app, name: str) -> str:
    return str(app.gauges.query_one(f"#{name}").render())


def _title(view) -> str:
    return str(view.query_one(".message-title").render())


async def test_a_regenerated_answer_shows_its_prompt_as_cached_and_a_reopened_one_keeps_its_figures() -> None:
    store = Store.memory()
    app = make_app(CachingEngine("Four."), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "What is 2+2?")
        first = footer(messages(app)[-1])
        assert "prompt 7 tok @ 500 tok/s" in first, first
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: "all cached" in footer(messages(app)[-1]), what="the regenerated footer")
        assert "@ 0 tok/s" not in footer(messages(app)[-1])
        assert "prompt cached" in _gauge(app, "g-last")
        session = app.chat.conv.session_id
        await pilot.press("ctrl+n")
        await app._session_chosen(session)  # reopened: the saved figures, as they were shown
        await wait_for(pilot, lambda: len(messages(app)) == 2, what="the reopened session")
        assert "prompt 7 tok: all cached" in footer(messages(app)[-1])
        await pilot.press("tab", "up")  # onto the answer, then to its earlier sibling
        await pilot.press("left")
        await wait_for(pilot, lambda: "‹1/2›" in _title(messages(app)[-1]), what="the first branch")
        assert "prompt 7 tok @ 500 tok/s" in footer(messages(app)[-1])


async def test_a_stopped_answer_says_stopped_once() -> None:
    app = make_app(FakeEngine(" ".join(f"w{i}" for i in range(400)), delay=0.01))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press(*"go", "enter")
        await wait_answer_words(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.chat.generating, what="the stopped answer")
        await settle(pilot)
        line = footer(messages(app)[-1])
        assert line.startswith("stopped · ") and line.count("stop") == 1 and "cancel" not in line, line


async def test_the_gauges_reset_when_a_new_answer_starts() -> None:
    engine = FakeEngine("First answer.")
    app = make_app(engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app)
        assert _gauge(app, "g-last").startswith("TTFT –")  # before any answer, as tall as the figures
        await say(pilot, app, "one")
        assert _gauge(app, "g-last").startswith("TTFT 50 ms")
        engine.reply, engine.delay = " ".join(f"w{i}" for i in range(300)), 0.01
        await pilot.press(*"two", "enter")
        await wait_answer_words(pilot, app)
        assert _gauge(app, "g-last").startswith("TTFT –")  # not the first answer's figures
        await pilot.press("escape")
        await wait_for(pilot, lambda: not app.chat.generating, what="the stopped answer")


async def test_a_full_context_marks_what_the_model_no_longer_sees_and_can_stop_asking() -> None:
    engine = FakeEngine("a b c d e f g h")
    store = Store.memory()
    app = make_app(engine, store=store, n_ctx=180)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot, app)
        for i in range(4):
            await say(pilot, app, f"turn {i} " + "word " * 12)
        await pilot.press(*"one more question", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the context-full dialog")
        assert "Always for this session" in "\n".join(screen_lines(app))
        await pilot.press("a")
        await wait_for(pilot, lambda: len(engine.requests) == 5 and not app.chat.generating, what="the fifth answer")
        conv = app.chat.conv
        assert conv.skip_turns >= 1 and conv.drop_oldest and store.get_session(conv.session_id).drop_oldest
        unseen = [v for v in messages(app) if v.has_class("-unseen")]
        assert len(unseen) == 2 * conv.skip_turns
        assert unseen[0].text.startswith("turn 0")
        assert "not seen by the model" in _title(unseen[0])
        assert not messages(app)[-1].has_class("-unseen")
        await settle(pilot)
        shown = "\n".join(screen_lines(app))
        said = status(app)
        assert "oldest turn" in said and all(part in shown for part in said.split(" · ")), (said, shown)
        skipped = conv.skip_turns
        await pilot.press(*("next " * 20), "enter")  # no dialog this time: dropped as the session chose
        await wait_for(pilot, lambda: len(engine.requests) == 6 and not app.chat.generating, what="the sixth answer")
        assert app.screen is app.main_screen and conv.skip_turns > skipped


@pytest.mark.engine
async def test_the_real_engine_s_figures_read_the_same_live_regenerated_and_reopened(default_model: Path) -> None:
    store = Store.memory()
    app = make_app(LlamaEngine(), model=default_model, store=store, n_ctx=1024, n_threads=2)
    app.sampler = SamplerSettings.greedy(max_tokens=12, seed=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        await say(pilot, app, "Name a colour.")
        live = footer(messages(app)[-1])
        assert "prompt" in live and "cached" not in live and "@ 0 tok/s" not in live, live
        await pilot.press("ctrl+r")
        regenerated = lambda: not app.chat.generating and "‹2/2›" in _title(messages(app)[-1])  # noqa: E731
        await wait_for(pilot, regenerated, 120, what="the regenerated answer")
        await settle(pilot)
        again = footer(messages(app)[-1])
        assert "cached" in again and "@ 0 tok/s" not in again, again  # the same prompt, from the KV cache
        session = app.chat.conv.session_id
        await app._session_chosen(session)
        await wait_for(pilot, lambda: len(messages(app)) == 2, what="the reopened session")
        assert footer(messages(app)[-1]).startswith(again)  # (and the model's name after it)
    app.engine.unload()
