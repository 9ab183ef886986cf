"""The headless commands on a terminal show stored text's escape sequences as marks; piped or written to a file,
the text stays as it was saved."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from edgetui.core.store.store import Store
from edgetui.paths import Paths
from tests.pty_app import wait_until

OSC52, TITLE, CLEAR = "\x1b]52;c;SGFja2Vk\x07", "\x1b]0;PWNED\x07", "\x1b[2J"
ANSWER = f"Flamingos {OSC52} are {TITLE} pink {CLEAR} birds"


def _hostile_session() -> int:
    path = Paths.from_env().ensure().db_path
    store = Store.open(path)
    try:
        sid = store.create_session(model_name=f"evil{TITLE}model", title=f"flamingo {TITLE}")
        user = store.add_message(sid, "user", f"Tell me about flamingos {CLEAR}", None)
        store.add_message(sid, "assistant", ANSWER, user)
        return sid
    finally:
        store.close()


def _on_a_terminal(*args: str) -> bytes:
    """Run `edgetui ARGS` with stdout and stderr on a pseudo-terminal; everything it wrote there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "edgetui", *args], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, env={**os.environ, "TERM": "xterm-256color"})  # fmt: skip
    os.close(slave)
    out = bytearray()

    def read() -> bool:
        try:
            data = os.read(master, 65536)
        except OSError:  # the other end closed: the command is done
            return True
        out.extend(data)
        return not data

    wait_until(read, 60, what=f"edgetui {' '.join(args)} to finish", step=0)
    assert proc.wait(timeout=30) == 0, out.decode(errors="replace")
    os.close(master)
    return bytes(out)


def _assert_shown(output: bytes) -> str:
    text = output.decode()
    assert "\x1b" not in text and "\x07" not in text, repr(text)
    return text


def test_sessions_search_and_list_show_marks_on_a_terminal() -> None:
    _hostile_session()
    found = _assert_shown(_on_a_terminal("sessions", "--search", "flamingos"))
    assert "␛]52;c;SGFja2Vk␇" in found or "␛[2J" in found
    listed = _assert_shown(_on_a_terminal("sessions"))
    assert "flamingo ␛]0;PWNED␇" in listed


def test_export_shows_marks_on_a_terminal_and_keeps_the_text_in_a_file_or_a_pipe(tmp_path: Path) -> None:
    sid = _hostile_session()
    shown = _assert_shown(_on_a_terminal("export", str(sid), "--format", "md"))
    assert "Flamingos ␛]52;c;SGFja2Vk␇ are" in shown
    piped = subprocess.run([sys.executable, "-m", "edgetui", "export", str(sid), "--format", "md"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert ANSWER in piped  # not a terminal: the text as it was saved
    out = tmp_path / "session.md"
    _assert_shown(_on_a_terminal("export", str(sid), "--format", "md", "-o", str(out)))
    assert ANSWER in out.read_text(encoding="utf-8")
    as_json = _assert_shown(_on_a_terminal("export", str(sid), "--format", "json"))
    assert "\\u001b]52" in as_json  # JSON escapes it: still the saved text, nothing for the terminal to obey
