"""The UI's components on their own: each runs in a bare Textual app that gives it its services (never EdgeApp),
and what it asks of the app arrives there as messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from edgetui.config import Config
from edgetui.core.chat.conversation import Conversation
from edgetui.core.models.fit import Resources
from edgetui.core.store.store import Store
from edgetui.core.types import LoadOptions, ModelInfo, SamplerSettings
from edgetui.paths import Paths
from edgetui.ui.catalog.catalog_pane import CatalogPane
from edgetui.ui.chat.chat_history import ChatHistory, EarlierMarker
from edgetui.ui.chat.chat_pane import ChatPane
from edgetui.ui.chat.message_view import MessageView
from edgetui.ui.compare.compare_screen import CompareScreen
from edgetui.ui.messages import AnswerEnded, ContextMeasured, SessionShown
from edgetui.ui.screens.bench_screen import BenchScreen
from tests.core.test_catalog import tiny_model
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, settle, wait_for

MIB = 1 << 20


class ChatHostApp(App[None]):
    """The chat pane's host: an engine, and a token rate that only records what it was told."""

    def __init__(self, engine: FakeEngine, conversation: Conversation) -> None:
        super().__init__()
        self.engine = engine
        self.conversation = conversation
        self.rate_starts = 0
        self.rate_tokens: list[int] = []
        self.ended: list[AnswerEnded] = []
        self.measured: list[tuple[int, int]] = []
        self.shown: list[int | None] = []

    def compose(self) -> ComposeResult:
        yield ChatPane(self.conversation, self, id="chat")

    def token_rate_start(self) -> None:
        self.rate_starts += 1

    def token_rate_add(self, t: float, tokens: int) -> None:
        self.rate_tokens.append(tokens)

    def on_answer_ended(self, message: AnswerEnded) -> None:
        self.ended.append(message)

    def on_context_measured(self, message: ContextMeasured) -> None:
        self.measured.append((message.used, message.n_ctx))

    def on_session_shown(self, message: SessionShown) -> None:
        self.shown.append(message.session_id)


def loaded_engine(reply: str) -> FakeEngine:
    engine = FakeEngine(reply)
    engine.load("/models/fake.Q4_1.gguf", LoadOptions(n_ctx=512))
    return engine


async def test_the_chat_pane_answers_on_any_host_and_reports_up_with_messages() -> None:
    store = Store.memory()
    app = ChatHostApp(loaded_engine("One two three."), Conversation(store))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ChatPane)
        pane.prompt.text = "Hello?"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(app.ended) and not pane.generating, what="the answer to end")
        await settle(pilot)
        views = list(pane.query(MessageView))
        assert [(v.role, v.text) for v in views] == [("user", "Hello?"), ("assistant", "One two three.")]
        assert app.rate_starts == 1 and sum(app.rate_tokens) == app.ended[0].stats.gen_tokens == 3
        assert app.measured and all(n_ctx == 512 for _, n_ctx in app.measured)  # the prompt's, then the answer's
        assert pane.conv.session_id is not None and app.shown[-1] == pane.conv.session_id
        assert [m.content for m in store.thread(pane.conv.session_id)] == ["Hello?", "One two three."]


async def test_without_a_model_the_chat_pane_sends_nothing() -> None:
    app = ChatHostApp(FakeEngine(), Conversation(Store.memory()))  # (nothing loaded)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.query_one(ChatPane)
        pane.prompt.text = "Anyone?"
        await pilot.press("enter")
        await settle(pilot)
        assert "No model is loaded yet" in str(pane.query_one("#chat-status", Static).render())
        assert not pane.views() and not app.engine.requests and app.rate_starts == 0


def conversation_of(store: Store, turns: int) -> Conversation:
    """A saved session of `turns` questions Q0, Q1... answered A0, A1... (by the fake engine)."""
    import threading

    conv = Conversation(store)
    for i in range(turns):
        conv.add_user(f"Q{i}")
        conv.stream_answer(loaded_engine(f"A{i}"), conv.begin_answer("fake"), threading.Event())
    assert conv.session_id is not None
    return Conversation.open(store, conv.session_id)


class ListApp(App[None]):
    """A bare app around a ChatHistory's list."""

    def __init__(self, history: ChatHistory) -> None:
        super().__init__()
        self.history = history
        self.clicked = 0

    def compose(self) -> ComposeResult:
        yield self.history.messages

    def on_earlier_marker_clicked(self, message: EarlierMarker.Clicked) -> None:
        self.clicked += 1


async def test_the_history_mounts_a_window_of_the_thread_and_shows_earlier_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from edgetui.ui.chat.message_list import MessageList

    monkeypatch.setattr(ChatHistory, "WINDOW", 4)
    monkeypatch.setattr(ChatHistory, "STEP", 3)
    store = Store.memory()
    conv = conversation_of(store, 5)  # 10 messages
    history = ChatHistory(MessageList(id="messages"))
    app = ListApp(history)
    async with app.run_test(size=SIZE) as pilot:
        await history.render(conv)
        await settle(pilot)
        assert history.hidden == 6
        assert [v.text for v in history.views()] == ["Q3", "A3", "Q4", "A4"]
        marker = history.messages.query_children(EarlierMarker).first()
        assert str(marker.render()).startswith("▲ 6 earlier messages")
        await pilot.click(marker)
        await settle(pilot)
        assert app.clicked == 1  # the marker asks; its pane (here the app) shows them
        assert await history.show_earlier(conv) == 3 and history.hidden == 3
        assert await history.show_earlier(conv, 10) == 3 and history.hidden == 0
        await settle(pilot)
        assert not list(history.messages.query_children(EarlierMarker))
        assert [v.text for v in history.views()][:2] == ["Q0", "A0"]


@dataclass
class Host:
    """What the compare screen reads of its owner, without an app behind it."""

    store: Store
    paths: Paths
    config: Config
    engine: FakeEngine = field(default_factory=FakeEngine)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)

    def load_options(self) -> LoadOptions:
        return LoadOptions(n_ctx=256)


async def test_the_compare_screen_reads_its_host_not_the_app(tmp_path: Path) -> None:
    host = Host(Store.memory(), Paths.from_env().ensure(), Config(system_prompt="Be brief."))
    a, b = tmp_path / "m.Q8_0.gguf", tmp_path / "m.Q4_0.gguf"
    app = App[None]()
    async with app.run_test(size=SIZE) as pilot:
        screen = CompareScreen(path_a=a, path_b=b, host=host)
        await app.push_screen(screen)
        await settle(pilot)
        assert screen.host is host
        assert screen._job().options == LoadOptions(n_ctx=256) and screen._job().store is host.store
        screen.column("a").turns.focus()
        await pilot.press("x")  # export: nothing saved yet
        await settle(pilot)
        assert "Nothing to export yet" in str(screen.query_one("#cmp-status").render())
        await pilot.press("g")  # the chat's sampler (the host's), not greedy decoding
        await settle(pilot)
        assert str(screen.query_one("#cmp-bar").render()).startswith("chat sampler")
        assert screen._sampler().temperature == host.sampler.temperature


class CatalogHostApp(App[None]):
    def __init__(self, pane: CatalogPane) -> None:
        super().__init__()
        self.pane = pane
        self.asked: list[object] = []

    def compose(self) -> ComposeResult:
        yield self.pane

    def on_catalog_pane_hub_requested(self, message: CatalogPane.HubRequested) -> None:
        self.asked.append("hub")

    def on_catalog_pane_delete_requested(self, message: CatalogPane.DeleteRequested) -> None:
        self.asked.append(message.item)


async def test_the_catalog_pane_scans_with_its_services_and_asks_the_app_for_the_hub_and_deletes() -> None:
    paths = Paths.from_env().ensure()
    (paths.models_dir / "Tiny.Q8_0.gguf").write_bytes(tiny_model("Tiny"))
    asked_resources: list[Resources] = []

    def resources() -> Resources:
        asked_resources.append(Resources(ram_available=64 * MIB, ram_total=128 * MIB))
        return asked_resources[-1]

    config = Config(scan_ollama=False, scan_lmstudio=False)
    pane = CatalogPane(config, paths, Store.memory(), resources, id="catalog")
    app = CatalogHostApp(pane)
    async with app.run_test(size=(140, 30)) as pilot:
        pane.rescan()  # (the app starts the first scan once it is up)
        await wait_for(pilot, lambda: pane.catalog is not None and not pane.scanning, what="the scan")
        assert asked_resources  # the fit column is judged against what the pane was given
        key = next(k for k in pane.items if k.endswith("Tiny.Q8_0.gguf"))
        table = pane.query_one(DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index(key))
        await settle(pilot)
        await pilot.press("h")
        await pilot.press("delete")
        await settle(pilot)
        assert app.asked == ["hub", pane.items[key]]


async def test_the_bench_screen_asks_what_is_loaded_and_whether_the_chat_is_busy(tmp_path: Path) -> None:
    store = Store.memory()
    store.add_benchmark({"model": "m.gguf", "test": "tg32", "tps_mean": 10.0, "tps_std": 0.5})
    model = tmp_path / "m.Q4_1.gguf"
    model.write_bytes(b"GGUF")
    loaded: list[ModelInfo | None] = [None]
    app = App[None]()
    async with app.run_test(size=SIZE) as pilot:
        screen = BenchScreen(store, lambda: loaded[0], threads=2, busy=lambda: True)
        await app.push_screen(screen)
        await settle(pilot)
        status = screen.query_one("#bench-status", Static)
        assert screen.query_one(DataTable).row_count == 1
        assert "Load a local model first" in str(status.render())
        loaded[0] = ModelInfo(path=model, name="m", n_ctx=512)
        await pilot.press("b")
        await settle(pilot)
        assert "Wait for the chat answer to finish" in str(status.render())
        assert screen._cancel is None  # nothing started
