"""What a user's terminal shows: the real `edgetui` in a pseudo-terminal, its output read by a terminal emulator."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from edgetui.paths import Paths
from tests.pty_app import Terminal, newest_answer, wait_until

PROMPT = "Write a long story about a dragon who learns to bake bread. Use many paragraphs."
COLS, ROWS = 100, 30
SCROLLBAR = "▁▂▃▄▅▆▇█▔▀"  # the thumb of the messages' scrollbar, at the right edge of the chat column


def _chat_column(line: str) -> str:
    """The text of the chat pane on one screen line (between its left and right borders)."""
    if "▏" not in line or "▕" not in line:
        return ""
    return line.split("▏", 1)[1].rsplit("▕", 1)[0].rstrip().rstrip(SCROLLBAR).strip()


def _words(text: str) -> str:
    return " ".join(re.sub(r"[*_`#>]", " ", text).split())


@pytest.mark.engine
@pytest.mark.slow
def test_a_streaming_answer_reaches_the_terminal_line_by_line(default_model: Path) -> None:
    """Mid-answer, the newest lines are written straight to the terminal (not through Textual's compositor): what a
    terminal emulator shows in the chat column must be the answer's own text, in place, and the gauges beside it
    must be intact; at the end the whole answer is shown as Markdown."""
    config = Paths.from_env().ensure().config_file
    config.write_text("[sampler]\ntemperature = 0.0\ntop_k = 1\nmax_tokens = 400\nseed = 0\n", encoding="utf-8")
    term = Terminal(default_model, ROWS, COLS)
    try:
        wait_until(lambda: any("ngl" in line for line in term.lines()), 60, "the model to load")
        # the "Loaded …" notification covers the top of the chat column for a few seconds: ask once it is gone
        wait_until(lambda: not any("Loaded " in line for line in term.lines()), 30, "the load notification to go")
        os.write(term.master, PROMPT.encode() + b"\r")
        wait_until(lambda: len(newest_answer()[0]) > 1000, 60, "1000 characters of the answer in the database")
        midway, midway_status = term.settled_lines(), newest_answer()[1]
        wait_until(lambda: newest_answer()[1] == "complete", 60, "the answer to finish")
        answer = _words(newest_answer()[0])
        final_screen: list[str] = []

        def end_shown() -> bool:  # the finished answer, laid out as Markdown, ends on the screen
            final_screen[:] = term.settled_lines()
            final = [s for s in (_words(_chat_column(line)) for line in final_screen) if s and s in answer]
            return bool(final) and answer.endswith(final[-1])

        try:
            wait_until(end_shown, 30, "the end of the answer on the screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the screen:\n" + "\n".join(final_screen)) from None
        os.write(term.master, b"\x11")  # Ctrl+Q
        term.proc.wait(timeout=30)
    finally:
        term.close()

    assert midway_status == "streaming"
    column = [_words(_chat_column(line)) for line in midway[1 : ROWS - 5]]  # below the header, above the prompt box
    if "Assistant" in column:
        column = column[column.index("Assistant") + 1 :]
    footers = [i for i, line in enumerate(column) if line.startswith("answering…")]  # the answer's footer, while
    if footers:  # it streams
        column = column[: footers[0]]
    shown = [line for line in column if line]
    assert len(shown) >= 10, "\n".join(midway)
    # every line in its place, none repeated or stale: together they are one stretch of the answer
    assert " ".join(shown) in answer, "\n".join(midway)
    assert any("tok/s now" in line for line in midway) and any("Memory" in line for line in midway)
