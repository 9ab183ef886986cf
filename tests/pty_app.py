"""The real `edgetui` in a pseudo-terminal, for tests that need a real terminal (hang-ups, what the screen shows)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from edgetui.core.store import Store
from edgetui.paths import Paths


def spawn(model: Path, rows: int = 30, cols: int = 100) -> tuple[subprocess.Popen, int]:
    """`edgetui --model MODEL` on a new pseudo-terminal of rows x cols; returns the process and the master fd."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    cmd = [sys.executable, "-m", "edgetui", "--model", str(model)]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    return proc, master


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


def newest_answer() -> tuple[str, str]:
    """The newest assistant message in the database and its status (saved at least once a second as it streams)."""
    path = Paths.from_env().db_path
    if not path.exists():
        return "", ""
    store = Store.open(path, read_only=True)
    try:
        sessions = store.list_sessions()
        thread = store.thread(sessions[0].id) if sessions else []
        last = thread[-1] if thread and thread[-1].role == "assistant" else None
        return (last.content, last.status) if last else ("", "")
    finally:
        store.close()
