"""Another process holds the sessions database locked: the app starts and answers anyway, says once that it waits for
the database, and saves what it holds once the lock is let go."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from edgetui.config import Config
from edgetui.core.store.store import Store
from edgetui.paths import Paths
from edgetui.ui.app import create_app
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import FAKE_MODEL, messages, wait_for, wait_loaded

WAITING = "Waiting for the sessions database"


async def test_a_locked_database_is_said_and_the_turn_is_saved_once_it_is_free(tmp_path: Path) -> None:
    db = tmp_path / "edgetui.db"
    Store.open(db).close()  # a database of the current schema, as a previous run left it
    other = sqlite3.connect(db, isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")  # (another process writing, a backup tool...)
    config = Config(db=str(db), scan_ollama=False, scan_lmstudio=False)
    paths = Paths.from_env().ensure()
    app = create_app(config, paths, engine=FakeEngine("All right."), model_path=FAKE_MODEL, resume=True)
    try:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await wait_loaded(pilot, app)  # (the load does not wait for the database)
            assert app.store.path == db  # the file itself, not a copy in memory
            app.chat.prompt.text = "Are you there?"
            await pilot.press("enter")
            await wait_for(pilot, lambda: any(WAITING in n.message for n in app._notifications), what="the notice")
            assert sum(WAITING in n.message for n in app._notifications) == 1
            assert other.in_transaction  # still locked: the screen went on meanwhile
            other.execute("COMMIT")
            await wait_for(pilot, lambda: not app.chat.generating and len(messages(app)) == 2, 60, what="the answer")
            sid = app.chat.conv.session_id
        saved = Store.open(db, read_only=True)
        assert [m.content for m in saved.thread(sid)] == ["Are you there?", "All right."]
        saved.close()
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
