"""The real `edgetui` in a pseudo-terminal, for tests that need a real terminal (hang-ups, what the screen shows)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pyte

from edgetui.core.store.store import Store
from edgetui.paths import Paths
from tests.waits import describe


def spawn(model: Path, rows: int = 30, cols: int = 100, args: Sequence[str] = ()) -> tuple[subprocess.Popen, int]:
    """`edgetui --model MODEL [ARGS]` on a new pseudo-terminal of rows x cols; returns the process and the master
    fd."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    cmd = [sys.executable, "-m", "edgetui", "--model", str(model), *args]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    return proc, master


def wait_until(predicate: Callable[[], object], timeout: float, what: str = "", step: float = 0.05) -> bool:
    """Wait until `predicate()` is true (and return True); fail, saying `what` was awaited, after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    if predicate():
        return True
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what or describe(predicate)}")


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


class Terminal:
    """A pseudo-terminal running edgetui, with a VT100 emulator (pyte) keeping what its screen shows, and every byte
    the app wrote (`raw`), for what a screen does not show (OSC sequences such as the clipboard's)."""

    def __init__(self, model: Path, rows: int = 30, cols: int = 100, args: Sequence[str] = ()) -> None:
        self.proc, self.master = spawn(model, rows, cols, args)
        self.screen = pyte.Screen(cols, rows)
        self._stream = pyte.ByteStream(self.screen)
        self._lock = threading.Lock()
        self._last_data = time.monotonic()
        self.raw = bytearray()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.raw += data
                self._stream.feed(data)
                self._last_data = time.monotonic()

    def write(self, data: str | bytes) -> None:
        """What the user types (or the terminal reports: mouse events)."""
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.screen.display)

    def text(self) -> str:
        return "\n".join(self.lines())

    def settled_lines(self, quiet_s: float = 0.02, timeout: float = 30.0) -> list[str]:
        """The screen between two updates (not halfway through one), as the user sees it; fails when the app never
        paused writing for `quiet_s` within `timeout` s."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if time.monotonic() - self._last_data >= quiet_s:
                    return list(self.screen.display)
            time.sleep(0.002)
        raise AssertionError(f"the screen was never still for {quiet_s:g} s in {timeout:g} s; it shows:\n{self.text()}")

    def wait_for(self, predicate: Callable[[list[str]], object], what: str, timeout: float = 30.0) -> list[str]:
        """Wait until `predicate(screen lines)` holds; fail with `what` and the screen as it was when it did not."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            lines = self.lines()
            if predicate(lines):
                return lines
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        lines = self.lines()
        if predicate(lines):
            return lines
        exited = f" (edgetui exited with {self.proc.returncode})" if self.proc.poll() is not None else ""
        raise AssertionError(
            f"timed out after {timeout:g} s waiting for {what}{exited}; the screen:\n" + "\n".join(lines)
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
