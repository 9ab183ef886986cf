"""A restart picks up where the user left: the last session and its model, the theme, the catalog's sort and the
saved defaults; `--new` starts empty; a model loaded from elsewhere is listed in the catalog."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from edgetui.config import Config
from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from edgetui.paths import Paths
from edgetui.ui.app import create_app
from edgetui.ui.dialogs.settings_dialog import SettingsDialog
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import messages, say, status, wait_for, wait_loaded

WIDE = (120, 40)


def _app(db: Path, engine, *, model: Path | None = None, fallback: Path | None = None, new: bool = False,
         store: Store | None = None, **config):  # fmt: skip
    """The app as `edgetui` builds it (resuming), on a database file that outlives one run."""
    paths = Paths.from_env().ensure()
    return create_app(
        Config(db=str(db), **config),
        paths,
        engine=engine,
        store=store,
        model_path=model,
        resume=True,
        reopen_session=not new,
        fallback_model=fallback,
    )


class GatedLoad(FakeEngine):
    """Loads once `gate` is set (on the loading worker's thread)."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.gate = threading.Event()

    def load(self, path, options):
        self.gate.wait(30)
        return super().load(path, options)


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    """A file the fake engine "loads" (the remembered model must still exist to be loaded again)."""
    path = tmp_path / "models-elsewhere" / "tiny.Q4_1.gguf"
    path.parent.mkdir()
    path.write_bytes(b"GGUF")
    return path


async def test_a_restart_opens_the_last_session_with_its_model(tmp_path: Path, model_file: Path) -> None:
    db = tmp_path / "edgetui.db"
    other = model_file.with_name("other.Q8_0.gguf")
    shutil.copy(model_file, other)
    app = _app(db, FakeEngine("First answer."), fallback=model_file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        assert app.engine.info.path == model_file  # nothing remembered yet: the fallback (the bundled model)
        app.load_model(other)
        await wait_for(pilot, lambda: app.engine.info.path == other, what="the other model loaded")
        await say(pilot, app, "Remember the zebra")
        session = app.chat.conv.session_id
    app.store.close()

    again = _app(db, FakeEngine("Second answer."), fallback=model_file)
    async with again.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: len(messages(again)) == 2, what="the last session's two messages")
        await wait_loaded(pilot, again)
        assert again.chat.conv.session_id == session
        assert [v.text for v in messages(again)] == ["Remember the zebra", "First answer."]
        assert again.engine.info.path == other  # the model loaded when it quit
        await say(pilot, again, "And now?")
        assert again.chat.conv.session_id == session  # the conversation goes on in that session
    again.store.close()

    fresh = _app(db, FakeEngine("Third."), fallback=model_file, new=True)
    async with fresh.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, fresh)
        assert messages(fresh) == [] and fresh.chat.conv.session_id is None  # --new: empty
        assert fresh.engine.info.path == other
    store = Store.open(db)
    assert [m.content for m in store.thread(session)][-2:] == ["And now?", "Second answer."]
    store.close()


async def test_after_ctrl_n_a_restart_starts_empty_and_a_vanished_model_falls_back(
    tmp_path: Path, model_file: Path
) -> None:
    db = tmp_path / "edgetui.db"
    gone = model_file.with_name("gone.gguf")
    shutil.copy(model_file, gone)
    app = _app(db, FakeEngine("ok"), model=gone)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "hello")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: messages(app) == [], what="the new, empty session")
    app.store.close()
    gone.unlink()
    again = _app(db, FakeEngine("ok"), fallback=model_file)
    async with again.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, again)
        assert again.engine.info.path == model_file
        assert messages(again) == []
    again.store.close()


async def test_theme_and_catalog_sort_are_kept(tmp_path: Path, model_file: Path) -> None:
    db = tmp_path / "edgetui.db"
    app = _app(db, FakeEngine("ok"), fallback=model_file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        app.theme = "nord"
        app.catalog.table.focus()
        await pilot.press("s", "s")
        assert app.catalog.sort_key == "params"
    app.store.close()
    again = _app(db, FakeEngine("ok"), fallback=model_file)
    async with again.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, again)
        assert again.theme == "nord"
        assert again.catalog.sort_key == "params"
        assert "by params" in str(again.catalog.query_one("#catalog-title").render())
    again.store.close()


async def test_save_as_default_is_what_ctrl_n_and_the_next_run_start_with(tmp_path: Path, model_file: Path) -> None:
    db = tmp_path / "edgetui.db"
    engine = FakeEngine("ok")
    app = _app(db, engine, fallback=model_file, system_prompt="From the config.")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "one")
        assert engine.requests[-1][0].content == "From the config."
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog), what="the settings dialog")
        await pilot.press("ctrl+s")  # for this session only: Ctrl+N keeps the config's
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the main screen")
        await pilot.press("ctrl+n")
        await say(pilot, app, "two")
        assert engine.requests[-1][0].content == "From the config."
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog), what="the settings dialog")
        app.screen.query_one("#system-prompt").text = "Saved as default."
        app.screen.query_one("#s-temperature").value = "0.3"
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the main screen")
        await say(pilot, app, "three")  # this session has them
        assert engine.requests[-1][0].content == "Saved as default." and engine.samplers[-1].temperature == 0.3
        await pilot.press("ctrl+n")
        await say(pilot, app, "four")  # and so has a new one
        assert engine.requests[-1][0].content == "Saved as default." and engine.samplers[-1].temperature == 0.3
    app.store.close()
    again = _app(db, engine, fallback=model_file, new=True, system_prompt="From the config.")
    async with again.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, again)
        await say(pilot, again, "five")
        assert engine.requests[-1][0].content == "Saved as default." and engine.samplers[-1].temperature == 0.3
    again.store.close()


async def test_opening_a_session_does_not_change_what_new_sessions_start_with(tmp_path: Path) -> None:
    store = Store.memory()
    old = store.create_session(model_name="x", system_prompt="Old.", sampler=SamplerSettings(temperature=0.1))
    store.add_message(old, "user", "hi", None)
    engine = FakeEngine("ok")
    app = _app(tmp_path / "unused.db", engine, store=store, model=Path("/models/fake.gguf"), system_prompt="Default.")
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await app._session_chosen(old)
        await wait_for(pilot, lambda: app.chat.conv.session_id == old, what="the old session open")
        await pilot.press("ctrl+n")
        await say(pilot, app, "new one")
        assert engine.requests[-1][0].content == "Default." and engine.samplers[-1].temperature == 0.7


@pytest.mark.engine
async def test_a_model_opened_with_model_path_is_listed_in_the_catalog_as_loaded(
    tmp_path: Path, default_model: Path
) -> None:
    elsewhere = tmp_path / "downloads" / "my-model.Q4_1.gguf"
    elsewhere.parent.mkdir()
    shutil.copy(default_model, elsewhere)
    app = _app(tmp_path / "edgetui.db", LlamaEngine(), model=elsewhere, n_ctx=512, n_threads=2)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app, timeout=60)
        catalog = app.catalog
        await wait_for(pilot, lambda: catalog.find(elsewhere) is not None, what="the opened file in the catalog")
        await wait_for(pilot, lambda: not catalog.scanning, what="the catalog's scan")
        row = catalog.row_text(elsewhere)
        assert row[0].startswith("●") and row[1] == "my-model.Q4_1"
        assert catalog.find(elsewhere).source == "opened"
    app.engine.unload()
    app.store.close()


async def test_the_reopened_session_s_context_is_counted_once_the_model_is_loaded(tmp_path: Path, model_file: Path):
    db = tmp_path / "edgetui.db"
    app = _app(db, FakeEngine("First answer."), fallback=model_file)
    async with app.run_test(size=WIDE) as pilot:
        await wait_loaded(pilot, app)
        await say(pilot, app, "Remember the zebra")
    app.store.close()
    engine = GatedLoad("ok")
    again = _app(db, engine, fallback=model_file)
    async with again.run_test(size=WIDE) as pilot:
        await wait_for(pilot, lambda: len(messages(again)) == 2, what="the last session's two messages")
        engine.gate.set()  # the model is loaded only now, after the session was opened
        await wait_loaded(pilot, again)
        await wait_for(pilot, lambda: again.chat.context_used > 0, what="the reopened session's context counted")
        assert f"ctx {again.chat.context_used}/" in status(again)
    again.store.close()
