"""The chat on a full disk: the whole answer stays on the screen and in memory, the status line says so, and once
there is room it is saved, the status line says that, and the notice goes; quitting saves it too."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from tests.core.test_disk_full import LONG, _fill, _free
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import make_app, messages, say, status, wait_answer_words, wait_for, wait_idle, wait_loaded


async def _ask_and_fill_the_disk(pilot, app, store: Store, fill: bool = True) -> None:
    """Ask; once the answer streams, the disk is full (its question and first words are saved)."""
    app.chat.prompt.text = "Write a long story about a dragon who learns to bake bread. Use many paragraphs."
    await pilot.press("enter")
    if fill:
        await wait_answer_words(pilot, app, 3, timeout=60)
        _fill(store)
    await wait_idle(pilot, app, timeout=120)


async def _full_then_free(pilot, app, store: Store, fill: bool = True) -> int:
    await wait_loaded(pilot, app, timeout=60)
    await say(pilot, app, "Say hello.", timeout=120)
    await _ask_and_fill_the_disk(pilot, app, store, fill)
    answer = messages(app)[-1]
    assert "disk is full" in status(app) and "kept" in status(app)
    assert store.message(answer.message_id).status == "streaming" and store.unsaved == 1
    _free(store)
    await wait_for(pilot, lambda: status(app).startswith("Saved:"), what="the answer saved once there is room")
    assert "disk is full" not in status(app)
    saved = store.message(answer.message_id)
    assert saved.status == "complete" and saved.content == answer.text
    return answer.message_id


async def test_an_answer_kept_while_the_disk_is_full_is_saved_when_there_is_room(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "edgetui.db")
    app = make_app(FakeEngine(LONG, delay=0.001), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await _full_then_free(pilot, app, store)
        assert messages(app)[-1].text == LONG
    store.close()


async def test_quitting_saves_an_answer_the_disk_had_no_room_for(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "edgetui.db")
    app = make_app(FakeEngine(LONG, delay=0.001), store=store)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot, app)
        await _ask_and_fill_the_disk(pilot, app, store)
        answer_id = messages(app)[-1].message_id
        assert store.unsaved == 1
        _free(store)
        await pilot.press("ctrl+q")  # before the next try: the quit itself saves it
    assert store.unsaved == 0 and store.message(answer_id).content == LONG
    store.close()


class FillsTheDisk:
    """The real engine, but the disk fills up after the second answer's first chunk (on the worker's thread, so
    that it is mid-answer however busy the machine is)."""

    def __init__(self, engine: LlamaEngine, store: Store) -> None:
        self.engine, self.store, self.answers = engine, store, 0

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def stream_chat(self, messages, sampler, cancel=None):
        gen = self.engine.stream_chat(messages, sampler, cancel)
        self.answers += 1
        return gen if self.answers != 2 else _FillAfterFirstChunk(gen, self.store)


class _FillAfterFirstChunk:
    def __init__(self, gen, store: Store) -> None:
        self.gen, self.store = gen, store

    @property
    def stats(self):
        return self.gen.stats

    def __iter__(self):
        for i, chunk in enumerate(self.gen):
            yield chunk
            if i == 0:
                _fill(self.store)


@pytest.mark.engine
async def test_the_real_engine_s_answer_survives_a_full_disk(tmp_path: Path, default_model: Path) -> None:
    store = Store.open(tmp_path / "edgetui.db")
    app = make_app(FillsTheDisk(LlamaEngine(), store), model=default_model, store=store, n_ctx=1024, n_threads=2)
    app.sampler = SamplerSettings.greedy(max_tokens=300, seed=0)
    async with app.run_test(size=(100, 30)) as pilot:
        answer_id = await _full_then_free(pilot, app, store, fill=False)
        assert store.runs(message_id=answer_id)[0]["gen_tokens"] > 0
    app.engine.unload()
    store.close()
