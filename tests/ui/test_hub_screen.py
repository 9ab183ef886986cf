"""Pilot tests of the Hub screen against the fake Hub on 127.0.0.1: search, list, download, cancel, offline."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from edgetui.ui.catalog.hub_screen import HubScreen
from tests.core.test_catalog import tiny_model
from tests.hub_server import FakeFile, FakeHub, FakeRepo, fake_gguf, use_fake_hub
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, settle, wait_for
from tests.ui.test_catalog_pane import make_app, select, wait_scanned

TINY = "edgetui-test/Tiny-GGUF"
BIG = "edgetui-test/Big-GGUF"
BIG_SIZE = 2_000_000


@pytest.fixture(scope="module")
def fake_hub() -> Iterator[FakeHub]:
    repos = [
        FakeRepo(
            TINY,
            [FakeFile("Tiny-Q8_0.gguf", data=tiny_model("Tiny")), FakeFile("README.md", data=b"# tiny\n")],
            downloads=500,
        ),  # fmt: skip
        FakeRepo(BIG, [FakeFile("big-Q4_K_M.gguf", data=fake_gguf(BIG_SIZE, "big"))], downloads=50),
        FakeRepo("other/safetensors-only", [FakeFile("model.safetensors", data=b"x")], tags=["safetensors"]),
    ]
    with FakeHub(repos) as hub:
        yield hub


@pytest.fixture
def hub_env(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    return use_fake_hub(fake_hub, monkeypatch)


def hub_status(screen: HubScreen) -> str:
    return str(screen.query_one("#hub-status", Static).render())


async def open_hub(pilot, app) -> HubScreen:
    await wait_scanned(pilot, app)
    table = app.catalog.query_one(DataTable)
    table.focus()
    await pilot.press("h")
    await wait_for(pilot, lambda: isinstance(app.screen, HubScreen))
    return app.screen


def row_keys(screen: HubScreen, table_id: str) -> list[str]:
    table = screen.query_one(table_id, DataTable)
    return [table.coordinate_to_cell_key((i, 0)).row_key.value for i in range(table.row_count)]


async def test_search_list_and_download_then_the_file_is_in_the_catalog(hub_env: FakeHub) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hub(pilot, app)
        await wait_for(pilot, lambda: bool(screen.repos))  # the most downloaded GGUF repos at once
        await settle(pilot)
        assert row_keys(screen, "#hub-repos") == [TINY, BIG]
        await pilot.press(*"tiny", "enter")
        await wait_for(pilot, lambda: list(screen.repos) == [TINY])
        await settle(pilot)
        assert isinstance(app.focused, DataTable) and app.focused.id == "hub-repos"
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.files))
        await settle(pilot)
        assert row_keys(screen, "#hub-files") == ["Tiny-Q8_0.gguf"]
        files = screen.query_one("#hub-files", DataTable)
        assert [c.plain for c in files.get_row("Tiny-Q8_0.gguf")[:3]] == ["✓", "Tiny-Q8_0.gguf", "Q8_0"]
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.downloaded))
        path = screen.downloaded[0]
        assert path.is_file() and path.read_bytes() == tiny_model("Tiny")
        assert path.is_relative_to(Path(os.environ["HF_HUB_CACHE"]))
        assert "Downloaded Tiny-Q8_0.gguf" in hub_status(screen)
        # the catalog rescans and lists it (from the HF cache)
        await wait_for(pilot, lambda: app.catalog.find(path) is not None and not app.catalog.scanning)
        entry = app.catalog.find(path)
        assert entry.ok and entry.source == "hf" and entry.name == f"{TINY}/Tiny-Q8_0.gguf"
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
        # a file in the HF cache is deleted through huggingface_hub's cache API (its whole revision)
        await select(pilot, app, entry.path)
        await pilot.press("delete")
        await wait_for(pilot, lambda: "Hugging Face cache" in str(getattr(app.screen, "body", "")))
        await pilot.press("y")
        await wait_for(pilot, lambda: not path.exists() and app.catalog.find(path) is None)
        await settle(pilot)
        assert not path.exists()


async def test_escape_cancels_a_download_and_the_next_one_resumes(hub_env: FakeHub) -> None:
    hub_env.throttle_bps = 1_000_000
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hub(pilot, app)
        await wait_for(pilot, lambda: bool(screen.repos))
        await pilot.press(*"big", "enter")
        await wait_for(pilot, lambda: list(screen.repos) == [BIG])
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.files))
        await pilot.press("enter")
        bar = screen.query_one("#hub-progress")
        await wait_for(pilot, lambda: (bar.progress or 0) > 200_000)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.downloading)
        await settle(pilot)
        assert app.screen is screen  # Escape cancelled; it did not close the screen
        assert "cancelled" in hub_status(screen) and "kept" in hub_status(screen)
        partial = list(Path(os.environ["HF_HUB_CACHE"]).glob("models--*Big-GGUF/blobs/*.incomplete"))
        assert len(partial) == 1 and 0 < partial[0].stat().st_size < BIG_SIZE
        kept = partial[0].stat().st_size
        hub_env.throttle_bps = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.downloaded))
        await settle(pilot)
        assert screen.downloaded[0].stat().st_size == BIG_SIZE
        assert any(r.startswith(f"bytes={kept}-") for r in hub_env.ranges())


async def test_offline_mode_says_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hub(pilot, app)
        banner = screen.query_one("#hub-offline", Static)
        assert banner.display and "OFFLINE" in str(banner.render())
        assert hub_status(screen).startswith("offline: HF_HUB_OFFLINE is set")
        await pilot.press(*"smol", "enter")
        await wait_for(pilot, lambda: "offline" in hub_status(screen))
        await settle(pilot)
        assert screen.repos == {} and app.screen is screen


async def test_an_unreachable_hub_says_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hub(pilot, app)
        await wait_for(pilot, lambda: bool(screen.offline))
        await settle(pilot)
        assert screen.offline.startswith(f"offline: cannot reach http://127.0.0.1:{port}")
        assert screen.query_one("#hub-offline").display
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen)
