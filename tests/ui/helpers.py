"""Helpers for Pilot tests: build the app on a fake or real engine and wait for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edgetui.config import Config
from edgetui.paths import Paths
from edgetui.ui.app import EdgeApp, create_app
from edgetui.ui.widgets.message_view import MessageView

SIZE = (100, 30)
FAKE_MODEL = Path("/models/fake.Q4_1.gguf")


def make_app(engine, model: Path | None = FAKE_MODEL, store=None, metrics=None, **config) -> EdgeApp:
    paths = Paths.from_env().ensure()
    return create_app(Config(**config), paths, engine=engine, store=store, metrics=metrics, model_path=model)


async def wait_for(pilot, predicate, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    await pilot.pause()
    while not predicate() and loop.time() < end:
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_idle(pilot, app: EdgeApp, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: not app.chat.generating, timeout)


async def wait_loaded(pilot, app: EdgeApp, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: app.engine.info is not None, timeout)


async def wait_answer_words(pilot, app: EdgeApp, count: int = 3, timeout: float = 30.0) -> None:
    """Wait until the answer streaming in has at least `count` words (a fixed pause is too short on a busy machine)."""

    def enough() -> bool:
        views = messages(app)
        return bool(views) and views[-1].role == "assistant" and len(views[-1].text.split()) >= count

    await wait_for(pilot, enough, timeout)


async def say(pilot, app: EdgeApp, text: str) -> None:
    """Put `text` in the prompt box and press Enter (other tests type key by key)."""
    app.chat.query_one("#prompt").text = text
    await pilot.press("enter")
    await wait_idle(pilot, app)


def messages(app: EdgeApp) -> list[MessageView]:
    return list(app.main_screen.query(MessageView))


def footer(view: MessageView) -> str:
    return str(view.query_one(".message-footer").render())


def status(app: EdgeApp) -> str:
    return str(app.chat.query_one("#chat-status").render())
