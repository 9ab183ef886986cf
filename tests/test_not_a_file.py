"""A named pipe (or a device) given as a model is refused before it is opened, on every path that opens a model:
opening one would block for ever."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgetui.core.engines.llama import EngineError, LlamaEngine
from edgetui.core.gguf.files import check_gguf_file
from edgetui.core.gguf.read import GGUFError, read_model
from edgetui.core.types import LoadOptions
from tests.pty_app import Terminal


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "model.gguf"
    os.mkfifo(path)
    return path


def test_the_checks_refuse_a_fifo_and_a_device(fifo: Path) -> None:
    for path, kind in ((fifo, "a named pipe"), (Path("/dev/null"), "a character device")):
        with pytest.raises(EngineError, match=f"not a regular file \\({kind}\\)"):
            check_gguf_file(path)
    with pytest.raises(GGUFError, match="not a regular file"):
        read_model(fifo)


@pytest.mark.engine
def test_the_engine_refuses_a_fifo_without_loading(fifo: Path) -> None:
    with pytest.raises(EngineError, match="not a regular file"):
        LlamaEngine().load(fifo, LoadOptions(n_ctx=256, n_threads=1))


@pytest.mark.parametrize(
    "args",
    [
        ["fit", "{m}"],
        ["quantize", "{m}", "Q8_0"],
        ["bench", "{m}"],
        ["compare", "{m}", "{m}", "--prompt", "hi"],
        ["serve", "{m}"],
    ],  # fmt: skip
    ids=lambda a: a[0],
)
def test_no_command_hangs_on_a_fifo(fifo: Path, args: list[str]) -> None:
    run = subprocess.run([sys.executable, "-m", "edgetui", *(a.format(m=fifo) for a in args)], capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    said = run.stdout + run.stderr
    assert run.returncode != 0 and "not a regular file" in said and "Traceback" not in said, said


@pytest.mark.engine
def test_the_app_started_on_a_fifo_says_so_and_keeps_running(fifo: Path, default_model: Path) -> None:
    term = Terminal(fifo, 24, 80)
    try:
        term.wait_for(lambda lines: any("not a regular file" in line for line in lines), "the load error", 60)
        term.write("\x11")  # Ctrl+Q: the app still answers
        term.proc.wait(timeout=30)
    finally:
        term.close()
