"""Loading models: the ModelLoader component on its own, and Pilot tests of loading from the catalog (the real engine
with predicted vs measured, the fit check, remote rows)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import Static

from edgetui.config import Config, Endpoint
from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.models.fit import Resources
from edgetui.core.models.ref import ModelRef
from edgetui.core.store.store import Store
from edgetui.ui.catalog.catalog_messages import LoadNeedsConfirm, ModelReady
from edgetui.ui.catalog.catalog_pane import LOADED
from edgetui.ui.catalog.model_details import ModelDetails
from edgetui.ui.catalog.model_loading import ModelLoader
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from edgetui.ui.messages import ModelLoadFailed
from tests.core.test_catalog import tiny_model
from tests.fake_openai_server import FakeOpenAIServer
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, messages, say, settle, status, wait_for, wait_loaded
from tests.ui.test_catalog_pane import catalog_status, make_app, select, text_of, wait_scanned

MIB = 1 << 20
ROOMY = Resources(ram_available=8 << 30, ram_total=16 << 30)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


@pytest.mark.engine
async def test_enter_loads_with_the_real_engine_and_records_predicted_vs_measured(default_model: Path) -> None:
    app = make_app(LlamaEngine(), model=None, n_ctx=512, n_threads=2)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_scanned(pilot, app)
            await select(pilot, app, default_model)
            await pilot.press("enter")
            await wait_loaded(pilot, app, timeout=60)
            info = app.engine.info
            assert info is not None and info.path == default_model and info.n_ctx == 512
            assert app.engine is app.services.engine
            assert app.last_fit_line.startswith("fit: predicted ") and "measured" in app.last_fit_line
            assert any(app.last_fit_line in n.message for n in app._notifications)
            assert app.catalog.row_text(default_model)[0][0] == LOADED
            assert catalog_status(app) == app.last_fit_line  # the loaded row is highlighted
            rows = app.store.fit_measurements(default_model)
            assert len(rows) == 1
            row = rows[0]
            assert row["n_ctx"] == 512 and row["measured_bytes"] == info.rss_delta_bytes > 0
            assert row["predicted_bytes"] > 50 * MIB and row["rel_error"] is not None
            # the details screen lists the measurement (back in the catalog: a load puts the keyboard in the prompt)
            await select(pilot, app, default_model)
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, ModelDetails))
            history = text_of(app.screen.query_one("#details-history", Static))
            assert "predicted" in history and "512" in history and "%" in history
    finally:
        app.services.engine.unload()


@pytest.mark.engine
async def test_a_model_that_does_not_fit_asks_first_and_n_cancels(default_model: Path) -> None:
    engine = FakeEngine()
    app = make_app(engine, model=None, n_ctx=2048)
    app.fit_resources_override = Resources(ram_available=64 * MIB, ram_total=128 * MIB)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        assert app.catalog.row_text(default_model)[0][1] == "✗"
        await select(pilot, app, default_model)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "does not fit" in app.screen.body and "64.0 MiB free" in app.screen.body
        await pilot.press("n")
        await wait_for(pilot, lambda: "Not loaded" in status(app))
        assert engine.info is None
        assert "Not loaded" in status(app) and "does not fit" in status(app)
        # asked again (from the catalog: the closed dialog gave the keyboard back to the prompt), "y" loads anyway
        await select(pilot, app, default_model)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await wait_loaded(pilot, app)
        assert engine.info is not None and engine.info.path == default_model


@pytest.mark.engine
async def test_a_file_that_cannot_load_keeps_the_app_running(default_model: Path) -> None:
    app = make_app(FakeEngine(fail_load="llama.cpp could not load it"), model=None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, default_model)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Could not load" in status(app))
        assert "llama.cpp could not load it" in status(app)
        assert app.screen is app.main_screen


@pytest.mark.engine
async def test_a_remote_endpoint_row_loads_chats_and_switches_back(
    server: FakeOpenAIServer, default_model: Path
) -> None:
    server.reset("ok")
    local = FakeEngine()
    endpoint = Endpoint(name="fake", base_url=f"{server.url}/v1", model="fake-model")
    app = make_app(local, endpoints=(endpoint,))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await wait_scanned(pilot, app)
        row = ModelRef.remote("fake", "fake-model")
        assert app.catalog.row_text(row)[1] == "fake/fake-model"
        await select(pilot, app, row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.engine, OpenAIEngine))
        await settle(pilot)
        assert isinstance(app.engine, OpenAIEngine) and app.engine.model == "fake-model"
        assert local.info is None  # the local model was unloaded to free its memory
        assert app.services.engine is local
        assert app.catalog.row_text(row)[0][0] == LOADED
        app.chat.query_one("#prompt").focus()
        await say(pilot, app, "Say hello")
        assert messages(app)[-1].text == "Hello, world!"
        assert any(r.path == "/v1/chat/completions" for r in server.requests)
        # a local row again: back to the injected local engine
        await select(pilot, app, default_model)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.engine is local and local.info is not None)
        assert local.info.path == default_model


async def test_an_endpoint_without_a_model_uses_the_servers_first(server: FakeOpenAIServer) -> None:
    server.reset("ok")
    app = make_app(FakeEngine(), model=None, endpoints=(Endpoint(name="srv", base_url=server.url),))
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        row = ModelRef.remote("srv")
        await select(pilot, app, row)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.engine, OpenAIEngine))
        await settle(pilot)
        assert app.engine.model == "fake-model"
        assert app.catalog.row_text(row)[0][0] == LOADED


@pytest.mark.engine
def test_auto_gpu_layers_resolve_to_zero_without_a_gpu_and_all_with_room(default_model: Path) -> None:
    from edgetui.core.gguf.read import read_model

    header = read_model(default_model)
    app = make_app(FakeEngine(), model=None, n_ctx=1024, n_gpu_layers=-2, n_threads=2)
    cpu_only = Resources(ram_available=8 << 30, ram_total=16 << 30)
    assert app.load_options(header, cpu_only).n_gpu_layers == 0
    big_gpu = Resources(ram_available=8 << 30, ram_total=16 << 30, vram_free=24 << 30, vram_total=24 << 30)
    assert app.load_options(header, big_gpu).n_gpu_layers == header.block_count + 1
    assert app.load_options(None, big_gpu).n_gpu_layers == 0  # unreadable header: nothing is offloaded
    explicit = make_app(FakeEngine(), model=None, n_gpu_layers=-1)
    assert explicit.load_options(header, cpu_only).n_gpu_layers == -1


# -- the component on its own: a worker that runs at once, the messages it posts ------------------------------
class Loader:
    """A ModelLoader whose worker runs in the caller's thread, and the messages it posted."""

    def __init__(self, local: FakeEngine, resources: Resources = ROOMY, **config: object) -> None:
        self.posted: list[object] = []
        self.store = Store.memory()
        self.models = ModelLoader(local, self.store, Config(**config), self.posted.append, self._run, lambda: resources)

    @staticmethod
    def _run(work, **kw: object) -> None:
        assert kw == {"name": kw["name"], "group": "load", "exclusive": True, "thread": True}
        work()


def _tiny(tmp_path: Path, name: str = "tiny.Q8_0.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(tiny_model())
    return path


def test_the_loader_loads_a_file_on_the_local_engine(tmp_path: Path) -> None:
    local = FakeEngine()
    loader = Loader(local, n_ctx=256, n_threads=2, n_gpu_layers=0)
    loader.models.load(ModelRef.local(_tiny(tmp_path)))
    (ready,) = loader.posted
    assert isinstance(ready, ModelReady) and ready.engine is local and ready.info is local.info
    assert ready.estimate is not None and ready.info.n_ctx == 256
    assert loader.models.engine is local  # the app's handler hands the engine over (on_model_ready)


def test_the_loader_asks_first_when_a_file_does_not_fit(tmp_path: Path) -> None:
    local = FakeEngine()
    loader = Loader(local, Resources(ram_available=1 << 10, ram_total=1 << 20), n_ctx=256, n_gpu_layers=0)
    ref = ModelRef.local(_tiny(tmp_path))
    loader.models.load(ref)
    (ask,) = loader.posted
    assert isinstance(ask, LoadNeedsConfirm) and ask.path == ref.path and local.info is None
    loader.models.load(ref, confirmed=True)
    assert isinstance(loader.posted[-1], ModelReady) and local.info is not None


def test_the_loader_posts_one_message_for_any_error(tmp_path: Path) -> None:
    loader = Loader(FakeEngine(fail_load="llama.cpp could not load it"))
    loader.models.load(ModelRef.local(_tiny(tmp_path)))
    loader.models.load(ModelRef.remote("nowhere", "m"))  # no such endpoint: no engine is even made
    failed = loader.posted
    assert [type(m) for m in failed] == [ModelLoadFailed, ModelLoadFailed]
    assert failed[0].error == "llama.cpp could not load it"
    assert failed[1].path == "openai:nowhere/m" and "No endpoint named 'nowhere'" in failed[1].error
    assert "(configured: none)" in failed[1].error


def test_the_loader_switches_to_an_endpoint_and_back(server: FakeOpenAIServer, tmp_path: Path) -> None:
    server.reset("ok")
    local = FakeEngine()
    endpoint = Endpoint(name="fake", base_url=f"{server.url}/v1", model="fake-model")
    loader = Loader(local, endpoints=(endpoint,), n_gpu_layers=0)
    models = loader.models
    models.load(ModelRef.local(_tiny(tmp_path)))
    models.engine = loader.posted[-1].engine
    models.load(ModelRef.parse("openai:fake/fake-model"))
    ready = loader.posted[-1]
    assert isinstance(ready, ModelReady) and isinstance(ready.engine, OpenAIEngine)
    assert ready.info.path == "openai:fake/fake-model" and local.info is None  # the local model was unloaded
    models.engine = ready.engine
    models.load(ModelRef.local(_tiny(tmp_path)))
    back = loader.posted[-1]
    assert isinstance(back, ModelReady) and back.engine is local and ready.engine.info is None
