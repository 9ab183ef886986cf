"""The Hub client against a real HTTP fake Hub on 127.0.0.1: search, listing, resumable downloads, errors, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetui.core.hub.files import HubFile, group_gguf_files, parse_spec, pick_file, quant_from_name
from edgetui.core.hub.hub import DownloadCancelled, Hub, HubError, HubOffline
from tests.hub_server import FakeFile, FakeHub, FakeRepo, fake_gguf, use_fake_hub

SMOL = "edgetui-test/SmolLM2-135M-Instruct-GGUF"
SPLIT = "edgetui-test/tiny-split-GGUF"
GATED = "meta-fake/gated-GGUF"


@pytest.fixture(scope="module")
def fake_hub(default_model: Path) -> Iterator[FakeHub]:
    repos = [
        FakeRepo(
            SMOL,
            [
                FakeFile("SmolLM2-135M-Instruct.Q4_1.gguf", source=default_model),
                FakeFile("SmolLM2-135M-Instruct.Q8_0.gguf", data=fake_gguf(60_000, "q8")),
                FakeFile("README.md", data=b"# SmolLM2 135M GGUF\n"),
            ],
            downloads=5000,
            likes=40,
        ),
        FakeRepo(
            SPLIT,
            [
                FakeFile("Q4_K_M/tiny-Q4_K_M-00001-of-00002.gguf", data=fake_gguf(300_000, "a")),
                FakeFile("Q4_K_M/tiny-Q4_K_M-00002-of-00002.gguf", data=fake_gguf(200_000, "b")),
                FakeFile("tiny-IQ4_XS.gguf", data=fake_gguf(40_000, "c")),
                FakeFile("mmproj-tiny-f16.gguf", data=fake_gguf(30_000, "d")),
            ],
            downloads=70,
        ),
        FakeRepo("other-org/flaky-GGUF", [FakeFile("flaky-Q4_0.gguf", data=fake_gguf(1_500_000, "f"))]),
        FakeRepo(GATED, [FakeFile("gated-Q4_K_M.gguf", data=fake_gguf(20_000, "g"))], downloads=900, gated=True),
        FakeRepo(
            "edgetui-test/SmolLM2-safetensors",
            [FakeFile("model.safetensors", data=b"x" * 20_000)],
            downloads=9999,
            tags=["safetensors"],
        ),
        FakeRepo("edgetui-test/private-GGUF", [FakeFile("p-Q8_0.gguf", data=fake_gguf(20_000, "p"))], private=True),
    ]
    with FakeHub(repos) as hub:
        yield hub


@pytest.fixture
def hub_env(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    return use_fake_hub(fake_hub, monkeypatch)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


# -- names, specs, picking ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "quant"), [
    ("SmolLM2-135M-Instruct.Q4_1.gguf", "Q4_1"),
    ("qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Meta-Llama-3.1-8B-Instruct-IQ4_XS.gguf", "IQ4_XS"),
    ("Llama-3.2-1B-Instruct-IQ2_XXS.gguf", "IQ2_XXS"),
    ("gemma-3-4b-it-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),
    ("Q8_0/Big-Model-Q8_0-00001-of-00004.gguf", "Q8_0"),
    ("mmproj-model-f16.gguf", "F16"),
    ("phi-4-BF16.gguf", "BF16"),
    ("model-fp16.gguf", "F16"),
    ("ggml-model-Q4_0_4_4.gguf", "Q4_0_4_4"),
    ("Qwen2-0.5B.gguf", ""),
])  # fmt: skip
def test_quant_from_name(name: str, quant: str) -> None:
    assert quant_from_name(name) == quant


def test_split_parts_are_grouped_with_their_total_size() -> None:
    files = group_gguf_files([
        ("Q4_K_M/m-Q4_K_M-00002-of-00002.gguf", 200), ("Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", 300),
        ("m-Q8_0.gguf", 900), ("README.md", 10), ("mmproj-m-f16.gguf", 50),
    ])  # fmt: skip
    assert [(f.name, f.size, f.quant, f.kind) for f in files] == [
        ("Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", 500, "Q4_K_M", "model"),
        ("m-Q8_0.gguf", 900, "Q8_0", "model"),
        ("mmproj-m-f16.gguf", 50, "F16", "mmproj"),
    ]
    assert files[0].parts == ("Q4_K_M/m-Q4_K_M-00001-of-00002.gguf", "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf")
    assert files[0].split and not files[1].split


@pytest.mark.parametrize(("spec", "expected"), [
    ("org/repo", ("org/repo", None)),
    ("org/repo:q4_k_m", ("org/repo", "Q4_K_M")),
    ("hf.co/org/repo:Q8_0", ("org/repo", "Q8_0")),
    ("https://huggingface.co/org/repo", ("org/repo", None)),
    ("org/repo:model-Q8_0.gguf", ("org/repo", "model-Q8_0.gguf")),
])  # fmt: skip
def test_parse_spec(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "repo-without-org", "a/b/c", "org/re po", "/x"])
def test_parse_spec_rejects_non_repos(spec: str) -> None:
    with pytest.raises(HubError, match="org/repo"):
        parse_spec(spec)


def test_pick_file_prefers_q4_k_m_and_explains_missing_quants() -> None:
    files = [HubFile(n, s, quant_from_name(n), (n,)) for n, s in
             [("m-Q8_0.gguf", 8), ("m-Q4_K_M.gguf", 4), ("m-Q2_K.gguf", 2)]]  # fmt: skip
    assert pick_file(files, None).quant == "Q4_K_M"
    assert pick_file(files, "Q2_K").name == "m-Q2_K.gguf"
    assert pick_file(files, "m-Q8_0.gguf").quant == "Q8_0"
    with pytest.raises(HubError, match=r"no Q5_K_M file; it has: Q2_K, Q4_K_M, Q8_0"):
        pick_file(files, "Q5_K_M", "org/m")
    with pytest.raises(HubError, match="no GGUF model"):
        pick_file([], None, "org/m")


# -- search and listing over HTTP -----------------------------------------------------------------------
@pytest.mark.engine
def test_search_finds_gguf_repos_most_downloaded_first(hub_env: FakeHub) -> None:
    repos = Hub().search("edgetui-test")
    assert [r.repo_id for r in repos] == [SMOL, SPLIT]  # no safetensors-only or private repo
    smol = repos[0]
    assert (smol.downloads, smol.likes) == (5000, 40)
    assert smol.updated is not None and smol.updated.year == 2025
    assert Hub().search("", limit=1)[0].repo_id == SMOL
    assert Hub().search("gated")[0].gated
    assert Hub().search("no-such-model") == []


@pytest.mark.engine
def test_list_gguf_files_with_quant_and_size(hub_env: FakeHub, default_model: Path) -> None:
    files = Hub().list_gguf_files(SMOL)
    assert [(f.quant, f.size) for f in files] == [("Q8_0", 60_000), ("Q4_1", default_model.stat().st_size)]
    split = Hub().list_gguf_files(SPLIT)
    assert [(f.quant, f.size, len(f.parts), f.kind) for f in split] == [
        ("IQ4_XS", 40_000, 1, "model"),
        ("Q4_K_M", 500_000, 2, "model"),
        ("F16", 30_000, 1, "mmproj"),
    ]


@pytest.mark.engine
def test_resolve_picks_the_default_or_the_named_quant(hub_env: FakeHub) -> None:
    assert Hub().resolve(SMOL)[1].quant == "Q4_1"  # no Q4_K_M here: the next in the preference list
    assert Hub().resolve(f"{SPLIT}:iq4_xs")[1].name == "tiny-IQ4_XS.gguf"
    assert Hub().resolve(SPLIT)[1].quant == "Q4_K_M"
    with pytest.raises(HubError, match="no Q6_K file; it has: IQ4_XS, Q4_K_M"):
        Hub().resolve(f"{SPLIT}:Q6_K")


# -- downloads -----------------------------------------------------------------------------------------
@pytest.mark.engine
def test_download_into_the_hf_cache_with_progress_then_load_and_chat(
    hub_env: FakeHub, default_model: Path, tmp_path: Path
) -> None:
    seen: list[tuple[int, int]] = []
    path = Hub().download(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf", progress=lambda d, t: seen.append((d, t)))
    cache = Path(os.environ["HF_HUB_CACHE"])
    assert path.is_relative_to(cache / "models--edgetui-test--SmolLM2-135M-Instruct-GGUF" / "snapshots")
    assert _sha256(path) == _sha256(default_model)
    size = default_model.stat().st_size
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    # other tools find it where huggingface_hub puts files
    from huggingface_hub import try_to_load_from_cache

    assert try_to_load_from_cache(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf", cache_dir=str(cache)) == str(path)
    assert Hub().cached_path(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf") == path
    assert ("hub", "HEAD", f"/{SMOL}/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf", "") in hub_env.requests
    # a second download is a no-op: nothing more comes from the CDN
    cdn_gets = len(hub_env.ranges())
    assert Hub().download(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf") == path
    assert len(hub_env.ranges()) == cdn_gets

    from edgetui.core.engines.llama import LlamaEngine
    from edgetui.core.types import ChatMessage, LoadOptions, SamplerSettings

    engine = LlamaEngine()
    try:
        info = engine.load(path, LoadOptions(n_ctx=512, n_threads=2))
        assert info.quant == "Q4_1"
        text = engine.stream_chat([ChatMessage("user", "Say hi.")], SamplerSettings.greedy(max_tokens=8)).run()
        assert text.strip()
    finally:
        engine.unload()


@pytest.mark.engine
def test_cancel_mid_download_then_resume_completes_the_file(hub_env: FakeHub, default_model: Path) -> None:
    size = default_model.stat().st_size
    hub_env.throttle_bps = 40_000_000
    cancel = threading.Event()
    first: list[int] = []

    def on_progress(done: int, total: int) -> None:
        first.append(done)
        if done > 8_000_000:
            cancel.set()

    outcome: list[BaseException] = []

    def worker() -> None:
        try:
            Hub().download(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf", on_progress, cancel)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    t = threading.Thread(target=worker)
    t.start()
    t.join(60)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DownloadCancelled)
    blobs = Path(os.environ["HF_HUB_CACHE"]) / "models--edgetui-test--SmolLM2-135M-Instruct-GGUF" / "blobs"
    partial = list(blobs.glob("*.incomplete"))
    assert len(partial) == 1
    kept = partial[0].stat().st_size
    assert 8_000_000 < kept < size

    hub_env.throttle_bps = 0
    second: list[int] = []
    path = Hub().download(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf", lambda d, t: second.append(d))
    assert second[0] >= kept  # progress starts where the partial file ends
    assert f"bytes={kept}-" in hub_env.ranges()
    assert not list(blobs.glob("*.incomplete"))
    assert _sha256(path) == _sha256(default_model)


@pytest.mark.engine
def test_a_dropped_connection_is_resumed_within_the_same_download(hub_env: FakeHub) -> None:
    hub_env.drop_once_after = 700_000
    path = Hub().download("other-org/flaky-GGUF", "flaky-Q4_0.gguf")
    assert path.read_bytes() == fake_gguf(1_500_000, "f")
    ranges = hub_env.ranges()
    assert len(ranges) == 2 and ranges[0] == "" and ranges[1].startswith("bytes=")
    assert 0 < int(ranges[1][6:-1]) <= 700_000


@pytest.mark.engine
def test_split_model_downloads_every_part_side_by_side(hub_env: FakeHub) -> None:
    repo_id, hub_file = Hub().resolve(f"{SPLIT}:Q4_K_M")
    totals: list[tuple[int, int]] = []
    path = Hub().download(repo_id, hub_file, lambda d, t: totals.append((d, t)))
    assert path.name == "tiny-Q4_K_M-00001-of-00002.gguf"
    assert (path.parent / "tiny-Q4_K_M-00002-of-00002.gguf").stat().st_size == 200_000
    assert totals[-1] == (500_000, 500_000)


# -- errors ---------------------------------------------------------------------------------------------
@pytest.mark.engine
def test_offline_mode_refuses_every_hub_action(hub_env: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub  # noqa: F401 - imported before the variable is set, as in a running app

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub = Hub()
    for action in (
        lambda: hub.search("smol"),
        lambda: hub.list_gguf_files(SMOL),
        lambda: hub.download(SMOL, "SmolLM2-135M-Instruct.Q4_1.gguf"),
        lambda: hub.pull(SMOL),
    ):
        with pytest.raises(HubOffline, match="^offline: HF_HUB_OFFLINE"):
            action()
    assert hub_env.requests == []


def test_unreachable_endpoint_is_a_clear_offline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(HubOffline, match=rf"^offline: cannot reach http://127.0.0.1:{port}"):
        Hub().search("smol")


@pytest.mark.parametrize(("spec", "message"), [
    (GATED, f"{GATED} is gated: accept its terms at http://127.0.0.1:.*/{GATED}"),
    ("edgetui-test/no-such-repo", "edgetui-test/no-such-repo was not found on the Hub"),
    ("edgetui-test/private-GGUF", "was not found on the Hub .*private.*access token"),
    (f"{SMOL}:missing.gguf", f"{SMOL} has no file missing.gguf"),
])  # fmt: skip
@pytest.mark.engine
def test_repo_errors_have_clear_messages(hub_env: FakeHub, spec: str, message: str) -> None:
    with pytest.raises(HubError, match=message):
        Hub().pull(spec)


@pytest.mark.engine
def test_missing_file_at_download_time(hub_env: FakeHub) -> None:
    with pytest.raises(HubError, match=f"{SMOL} has no file nope.gguf"):
        Hub().download(SMOL, "nope.gguf")


# -- the CLI --------------------------------------------------------------------------------------------
@pytest.mark.engine
def test_cli_pull_downloads_the_named_quant(
    hub_env: FakeHub, default_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edgetui.cli import main

    assert main(["pull", f"{SMOL}:Q4_1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["quant"] == "Q4_1" and out["repo"] == SMOL
    assert Path(out["path"]).stat().st_size == default_model.stat().st_size

    assert main(["pull", SMOL, "--list"]) == 0
    listing = capsys.readouterr().out
    assert "Q4_1" in listing and "93.8 MiB" in listing and "Q8_0" in listing

    assert main(["pull", "--search", "smollm2"]) == 0
    assert SMOL in capsys.readouterr().out

    assert main(["pull", f"{SMOL}:Q3_K_S"]) == 1
    assert "edgetui: edgetui-test/SmolLM2-135M-Instruct-GGUF has no Q3_K_S file" in capsys.readouterr().err


@pytest.mark.engine
def test_cli_pull_offline_in_a_fresh_process(fake_hub: FakeHub) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": fake_hub.url}
    proc = subprocess.run([sys.executable, "-m", "edgetui.cli", "pull", SMOL], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("edgetui: offline:")
    assert "Traceback" not in proc.stderr
