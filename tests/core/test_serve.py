"""Serve and `edgetui serve`: the real llama_cpp.server on the default model, reached through OpenAIEngine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgetui.cli import main
from edgetui.config import Config, Endpoint
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.tools.serve import Serve, ServeError, ServeOptions, build_command, host_warning, server_env
from edgetui.core.types import ChatMessage, EngineError, SamplerSettings, StopReason
from edgetui.paths import Paths

pytestmark = pytest.mark.engine
SMALL = ServeOptions(port=0, n_ctx=512, n_threads=2)
QUESTION = [ChatMessage("user", "What is the capital of France? Answer in one sentence.")]


@pytest.fixture(scope="module")
def served(default_model: Path) -> Iterator[Serve]:
    server = Serve(default_model, SMALL)
    with server:
        server.wait_ready(timeout_s=120)
        yield server


@pytest.fixture
def remote(served: Serve) -> OpenAIEngine:
    engine = OpenAIEngine(Endpoint(name="local", base_url=served.url))
    engine.load()
    return engine


def test_real_server_streams_through_the_openai_engine(remote: OpenAIEngine, served: Serve) -> None:
    info = remote.info
    assert info is not None and info.engine == "openai"
    assert info.name == "SmolLM2-135M-Instruct.Q4_1" == served.model_alias and info.quant == "Q4_1"
    gen = remote.stream_chat(QUESTION, SamplerSettings(max_tokens=8, seed=1))
    chunks = list(gen)
    assert gen.text.strip() and chunks
    s = gen.stats
    assert s.stop_reason in (StopReason.EOS, StopReason.LENGTH) and s.error is None
    assert 0 < s.ttft_s <= s.total_s
    assert s.gen_tokens == len(chunks) <= 8  # llama-cpp-python's server sends no usage: one chunk a token
    assert remote.count_tokens(QUESTION) > 0


def test_greedy_remote_answer_equals_the_in_process_one(remote: OpenAIEngine, shared_engine) -> None:
    sampler = SamplerSettings.greedy(max_tokens=16, seed=0)
    local = shared_engine.stream_chat(QUESTION, sampler).run()
    assert remote.stream_chat(QUESTION, sampler).run() == local != ""


def test_cancel_stops_the_remote_answer_early(remote: OpenAIEngine) -> None:
    cancel = threading.Event()
    gen = remote.stream_chat([ChatMessage("user", "Count from 1 to 100.")], SamplerSettings.greedy(200), cancel)
    for i, _ in enumerate(gen):
        if i == 2:
            cancel.set()
    assert gen.stats.stop_reason is StopReason.CANCELLED and len(gen.text_parts) == 3
    after = remote.stream_chat(QUESTION, SamplerSettings.greedy(4)).run()  # the server is still fine
    assert after


def test_endpoint_snippet_configures_edgetui(served: Serve, edgetui_home: Path) -> None:
    snippet = served.endpoint_toml("gpu-box")
    (edgetui_home / "config.toml").write_text(snippet, encoding="utf-8")
    assert tomllib.loads(snippet)["endpoints"][0]["name"] == "gpu-box"
    endpoint = Config.load(Paths.from_env()).endpoints[0]
    assert (endpoint.base_url, endpoint.model) == (served.url, served.model_alias)
    assert OpenAIEngine(endpoint).load().name == served.model_alias


def test_api_key_protected_server(default_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGETUI_TEST_SERVE_KEY", "sk-serve-secret")
    with Serve(default_model, ServeOptions(port=0, n_ctx=256, n_threads=2, api_key_env="EDGETUI_TEST_SERVE_KEY")) as s:
        assert "sk-serve-secret" not in " ".join(s.command)
        s.wait_ready(timeout_s=120)
        with pytest.raises(EngineError, match="HTTP 401.*set api_key_env"):
            OpenAIEngine(Endpoint(name="keyed", base_url=s.url)).load()
        engine = OpenAIEngine(Endpoint(name="keyed", base_url=s.url, api_key_env="EDGETUI_TEST_SERVE_KEY"))
        assert engine.load().name == s.model_alias
        assert 'api_key_env = "EDGETUI_TEST_SERVE_KEY"' in s.endpoint_toml()


def test_a_model_the_server_cannot_load_shows_its_log(default_model: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(default_model.read_bytes()[:1_000_000])  # a GGUF header, then nothing
    server = Serve(broken, SMALL)
    try:
        with pytest.raises(ServeError, match=r"exited \(code \d+\) before it was ready: ValueError: Failed to load"):
            server.start().wait_ready(timeout_s=120)
    finally:
        server.stop()
    assert server.log_path is None  # the log file is removed


def test_start_refuses_a_missing_model_and_a_busy_port(default_model: Path, tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="Model file not found"):
        Serve(tmp_path / "nope.gguf", SMALL).start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServeError, match=rf"Cannot listen on 127.0.0.1 port {port}: .*--port"):
            Serve(default_model, ServeOptions(port=port)).start()


def test_host_warning_and_command(default_model: Path) -> None:
    assert host_warning("127.0.0.1", False) == host_warning("localhost", False) == host_warning("::1", False) == ""
    warning = host_warning("0.0.0.0", False)
    assert "any machine" in warning and "NO API key" in warning and "ssh -N -L" in warning
    assert "only with the API key" in host_warning("192.168.1.20", True)
    cmd = build_command(default_model, ServeOptions(host="0.0.0.0", n_ctx=1024, n_threads=3, n_gpu_layers=-2), 9000)
    assert cmd[:3] == [sys.executable, "-m", "llama_cpp.server"]
    args = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert args["--host"] == "0.0.0.0" and args["--port"] == "9000" and args["--n_ctx"] == "1024"
    assert args["--n_threads"] == args["--n_threads_batch"] == "3" and args["--n_gpu_layers"] == "-1"
    assert Serve(default_model, ServeOptions(host="0.0.0.0", port=9000)).url == "http://127.0.0.1:9000/v1"


def test_server_env_drops_what_llama_cpp_server_would_read() -> None:
    env = server_env({"PATH": "/bin", "PORT": "1", "host": "x", "N_CTX": "9", "Model": "m", "HOME": "/h"})
    assert env == {"PATH": "/bin", "HOME": "/h"}


# -- the command -------------------------------------------------------------------------------------------
def test_serve_command_refuses_a_missing_model(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    assert main(["serve", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"edgetui: Model file not found: {missing}"
    assert main(["serve", "--port", "70000", str(missing)]) == 2
    assert "--port must be between 0 and 65535" in capsys.readouterr().err


def test_serve_command_runs_in_the_foreground(default_model: Path, edgetui_home: Path) -> None:
    env = {**os.environ, "EDGETUI_HOME": str(edgetui_home), "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "edgetui",
        "serve",
        str(default_model),
        "--port",
        "0",
        "--ctx",
        "256",
        "--threads",
        "2",
        "--name",
        "box",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            out.append(line)
            if line.startswith("model = "):
                break
        text = "".join(out)
        assert "Serving SmolLM2-135M-Instruct.Q4_1 at http://127.0.0.1:" in text, text + proc.stderr.read()
        port = text.split("http://127.0.0.1:", 1)[1].split("/", 1)[0]
        assert f"Listening on 127.0.0.1:{port}\n" in text  # (what the server's socket says, not what was asked)
        snippet = text[text.index("[[endpoints]]") :]
        endpoint = Endpoint(**tomllib.loads(snippet)["endpoints"][0])
        assert endpoint.name == "box"
        assert OpenAIEngine(endpoint).load().name == "SmolLM2-135M-Instruct.Q4_1"
        proc.send_signal(signal.SIGTERM)  # like Ctrl+C: edgetui stops its server too, and exits cleanly
        assert proc.wait(timeout=60) in (0, 130)
        with pytest.raises(EngineError, match="connection refused"):
            OpenAIEngine(endpoint).load()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_server_started_by_edgetui_ends_when_edgetui_is_killed(default_model: Path, edgetui_home: Path) -> None:
    """SIGKILL leaves edgetui no chance to stop its server: the system ends it (it kept listening before)."""
    import psutil

    env = {**os.environ, "EDGETUI_HOME": str(edgetui_home), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "edgetui", "serve", str(default_model), "--port", "0", "--ctx", "256"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    server = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Listening on"):
                break
        children = psutil.Process(proc.pid).children()
        assert len(children) == 1, "the server process"
        server = children[0]
        proc.kill()
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs([server], timeout=30)
        assert not alive, f"the server (pid {server.pid}) outlived edgetui"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if server is not None and server.is_running():
            server.kill()  # (an orphan is no longer a child of this process)
