"""Helpers for Pilot tests: build the app on a fake or real engine and wait for it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from edgetui.config import Config
from edgetui.paths import Paths
from edgetui.ui.app import EdgeApp, create_app
from edgetui.ui.chat.message_view import MessageView
from tests.waits import describe

SIZE = (100, 30)
FAKE_MODEL = Path("/models/fake.Q4_1.gguf")


def make_app(engine, model: Path | None = FAKE_MODEL, store=None, metrics=None, **config) -> EdgeApp:
    paths = Paths.from_env().ensure()
    return create_app(Config(**config), paths, engine=engine, store=store, metrics=metrics, model_path=model)


def _app_state(pilot) -> str:
    """The chat's status line, when the app has one (what the app said it was doing when a wait ran out)."""
    try:
        return f"; the status line says {status(pilot.app)!r}"
    except Exception:
        return ""


async def wait_for(pilot, predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    """Let the app run until `predicate()` is true; fail, saying what was awaited, when `timeout` seconds pass."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    await pilot.pause()
    while not predicate():
        if loop.time() >= end:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what or describe(predicate)}{_app_state(pilot)}"
            )
        await pilot.pause(0.05)
    await pilot.pause()


async def wait_idle(pilot, app: EdgeApp, timeout: float = 30.0) -> None:
    await wait_for(pilot, lambda: not app.chat.generating, timeout, what="the answer to end")


async def wait_loaded(pilot, app: EdgeApp, timeout: float = 30.0) -> None:
    """Wait until the model is loaded and the app has shown it (the engine has it before the app's message does)."""
    await wait_for(pilot, lambda: app.engine.info is not None, timeout, what="the model to load")
    await settle(pilot, timeout)


async def wait_answer_words(pilot, app: EdgeApp, count: int = 3, timeout: float = 30.0) -> None:
    """Wait until the answer streaming in has at least `count` words (a fixed pause is too short on a busy machine)."""

    def enough() -> bool:
        views = messages(app)
        return bool(views) and views[-1].role == "assistant" and len(views[-1].text.split()) >= count

    await wait_for(pilot, enough, timeout, what=f"an answer of {count} words or more")


def busy(app, workers: bool = True) -> str:
    """What the app still has to do ("" when nothing): messages not handled, a worker running, a layout, scroll or
    repaint waiting, callbacks due after the next refresh. textual is pinned: these are its private flags."""
    screen = app.screen
    nodes = [app, *screen.walk_children(with_self=True)]
    queued = [type(node).__name__ for node in nodes if node.message_queue_size]
    if queued:
        return "messages waiting in " + ", ".join(queued[:5])
    running = [worker.name for worker in app.workers if not worker.is_finished] if workers else []
    if running:
        return "workers running: " + ", ".join(running)
    if screen._layout_required or screen._scroll_required or screen._repaint_required or screen._dirty_widgets:
        return "the screen has a layout, scroll or repaint waiting"
    waiting = [type(w).__name__ for w in nodes[2:] if w._layout_required or w._scroll_required or w._repaint_required]
    if waiting:
        return "a layout, scroll or repaint waiting in " + ", ".join(waiting[:5])
    if screen._callbacks:
        return "callbacks waiting for the next refresh"
    return ""


async def settle(pilot, timeout: float = 30.0, workers: bool = True) -> None:
    """Wait until the app has done everything it was asked (see `busy`), twice in a row, as a fixed pause hoped for
    on a machine of any speed. With `workers=False`, workers may still run (an answer held mid-stream)."""
    app = pilot.app
    for _ in range(2):  # (once more after a settled round: what it did may have queued more)
        try:
            await wait_for(pilot, lambda: not busy(app, workers), timeout, what="the app to settle")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still busy: {busy(app, workers)}") from None
        await pilot._wait_for_screen()


def last_message(app: EdgeApp) -> MessageView | None:
    views = messages(app)
    return views[-1] if views else None


async def wait_new_answer(pilot, app: EdgeApp, since: MessageView | None, timeout: float = 30.0) -> MessageView:
    """Wait until an answer newer than `since` (the last message before the question was sent) has ended.

    Enter starts a worker that mounts the question and the answer: `wait_idle` right after Enter can find the chat
    idle because the answer has not begun yet, on a busy machine."""

    def ended() -> bool:
        view = last_message(app)
        return view is not None and view is not since and view.role == "assistant" and not app.chat.generating

    await wait_for(pilot, ended, timeout, what="a new answer to end")
    answer = last_message(app)
    assert answer is not None
    return answer


async def say(pilot, app: EdgeApp, text: str, timeout: float = 30.0) -> MessageView:
    """Put `text` in the prompt box, press Enter and wait for the answer to end (other tests type key by key)."""
    since = last_message(app)
    app.chat.query_one("#prompt").text = text
    await pilot.press("enter")
    return await wait_new_answer(pilot, app, since, timeout)


def messages(app: EdgeApp) -> list[MessageView]:
    return list(app.main_screen.query(MessageView))


def footer(view: MessageView) -> str:
    """The line under a message, as one line (the screen may show it on two, wrapped between figures)."""
    return view.query_one(".message-footer").text


def status(app: EdgeApp) -> str:
    return str(app.chat.query_one("#chat-status").render())
