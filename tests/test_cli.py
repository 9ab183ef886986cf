"""The `edgetui` entry point: help, version, `python -m edgetui`, and the TUI served in a browser on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from edgetui.cli import COMMAND_MODULES, main


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert name in out


def test_python_dash_m_version() -> None:
    out = subprocess.run([sys.executable, "-m", "edgetui", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("edgetui ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_mode_serves_on_loopback_only() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgetui", "--web", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    status = response.status
            except OSError:
                time.sleep(0.2)
        assert status == 200
        import psutil

        listening = [c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]
        assert listening == ["127.0.0.1"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
