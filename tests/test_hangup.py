"""A dropped SSH link for real: `edgetui` in a pseudo-terminal whose other end closes mid-answer, then SIGHUP."""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from edgetui.core.store.store import Store
from edgetui.paths import Paths
from tests.pty_app import newest_answer, spawn, wait_until

pytestmark = pytest.mark.engine


def _drain(fd: int, seen: list[bytes], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            data = os.read(fd, 65536)
        except OSError:
            return
        if not data:
            return
        seen.append(data)


def _launch(model: Path) -> tuple[subprocess.Popen, int, list[bytes], threading.Event]:
    """edgetui in a 100x30 pseudo-terminal; a thread keeps reading its output into `seen` until `stop` is set."""
    proc, master = spawn(model)
    seen: list[bytes] = []
    stop = threading.Event()
    threading.Thread(target=_drain, args=(master, seen, stop), daemon=True).start()
    return proc, master, seen, stop


def _saved_answer() -> str:
    return newest_answer()[0]


# write(2)'s number, as /proc/PID/task/TID/syscall shows a thread blocked in it
WRITE_SYSCALL = {"x86_64": 1, "aarch64": 64}.get(platform.machine())


def _writes_to_the_terminal_block(pid: int) -> bool:
    """A thread of `pid` is asleep in a write to its terminal (stdout or stderr): the pty's buffer is full."""
    tasks = Path(f"/proc/{pid}/task")
    for task in tasks.iterdir() if tasks.is_dir() else ():
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            call = (task / "syscall").read_text().split()
        except (OSError, IndexError):  # the thread ended meanwhile
            continue
        if state in ("S", "D") and len(call) > 1 and call[0] == str(WRITE_SYSCALL) and int(call[1], 16) in (1, 2):
            return True
    return False


def _assert_kept(partial: str) -> None:
    """The answer was saved, stopped or complete, starting with what had been saved before the hang-up."""
    store = Store.open(Paths.from_env().db_path)
    try:
        sessions = store.list_sessions()
        assert sessions, "no session was saved"
        answer = store.thread(sessions[0].id)[-1]
        assert answer.role == "assistant"
        assert answer.content.startswith(partial)  # nothing already saved is lost
        assert answer.status in ("complete", "stopped")
    finally:
        store.close()


def test_dropped_terminal_saves_the_partial_answer_and_exits(default_model: Path) -> None:
    """The terminal stops being read (a stalled link: Textual's writes block), then goes away with SIGHUP: the answer
    streamed so far is in the database and the process ends by itself, instead of hanging on a dead terminal."""
    proc, master, seen, stop = _launch(default_model)

    def screen() -> str:
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(seen).decode("utf-8", "replace"))

    assert WRITE_SYSCALL is not None, f"no write(2) number for {platform.machine()}"
    try:
        wait_until(lambda: "ngl" in screen(), 60, "the model to load")
        os.write(master, b"Write a long story about a dragon who bakes bread.\r")
        wait_until(lambda: len(_saved_answer()) > 20, 60, "an answer in the database")
        stop.set()  # the link stalls: nothing reads the terminal, so its buffer fills and writes to it block
        wait_until(lambda: _writes_to_the_terminal_block(proc.pid), 60, "edgetui's writes to the terminal to block")
        partial = _saved_answer()
        os.close(master)  # then sshd gives up on it: the terminal goes away and the kernel sends SIGHUP
        proc.send_signal(signal.SIGHUP)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_kept(partial)


def test_a_terminal_gone_without_sighup_still_ends_the_app(default_model: Path) -> None:
    """A tmux server killed while `make run` runs in it: the terminal goes away but make does not pass SIGHUP on.
    edgetui notices the dead terminal by itself, saves the answer being streamed and exits."""
    proc, master, seen, _ = _launch(default_model)
    try:
        wait_until(lambda: b"ngl" in b"".join(seen), 60, "the model to load")
        os.write(master, b"Write a long story about a dragon who bakes bread.\r")
        wait_until(lambda: len(_saved_answer()) > 20, 60, "an answer in the database")
        partial = _saved_answer()
        os.close(master)  # no signal at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_kept(partial)
