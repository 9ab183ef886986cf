"""The app with `engine_process = true`: a real chat through the llama.cpp runner, and the runner dying mid-answer."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from edgetui.config import Config
from edgetui.core.engines.process import ProcessEngine
from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from edgetui.paths import Paths
from edgetui.ui.app import create_app
from tests.ui.helpers import SIZE, messages, say, settle, status, wait_for, wait_loaded

pytestmark = pytest.mark.engine


def _app(default_model: Path):
    config = Config(n_ctx=1024, n_threads=2, engine_process=True)
    app = create_app(
        config, Paths.from_env().ensure(), store=Store.open(Paths.from_env().db_path), model_path=default_model
    )
    app.sampler = SamplerSettings.greedy(max_tokens=24, seed=0)
    return app


async def test_a_chat_through_the_runner_is_shown_and_saved(default_model: Path) -> None:
    app = _app(default_model)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        engine = app.engine
        assert isinstance(engine, ProcessEngine) and engine.pid not in (None, os.getpid())
        await say(pilot, app, "Name a colour.")
        answer = messages(app)[-1]
        assert answer.role == "assistant" and answer.text.strip()
        saved = app.store.thread(app.chat.conv.session_id)
        assert saved[-1].content == answer.text
        engine.unload()


async def test_the_runner_dying_mid_answer_is_explained_and_the_text_kept(default_model: Path) -> None:
    app = _app(default_model)
    app.sampler = SamplerSettings.greedy(max_tokens=3000, seed=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        engine = app.engine
        assert isinstance(engine, ProcessEngine) and engine.pid is not None
        app.chat.query_one("#prompt").text = "Write a long story about a lighthouse."
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(messages(app)[-1].text) > 40)
        os.kill(engine.pid, signal.SIGKILL)
        await wait_for(pilot, lambda: not app.chat.generating)
        await settle(pilot)
        answer = messages(app)[-1]
        assert answer.text  # what streamed before the crash stays on screen
        footer = answer.query_one(".message-footer").text
        assert "killed (SIGKILL" in footer
        assert "answering" not in footer and "answering" not in status(app)  # (it stayed, once)
        saved = app.store.thread(app.chat.conv.session_id)
        assert saved[-1].content.startswith(answer.text[:40])
