"""The everyday chat loop on a real terminal: the real `edgetui` in a pseudo-terminal, its screen read by pyte."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from edgetui.paths import Paths
from tests.pty_app import Terminal, wait_until

ROWS, COLS = 40, 120
SENTENCE = "three hats sit quietly; dogs run, quick red doors shut"  # h s d q r: each a catalog key
CTRL_N, CTRL_Q, TAB, ENTER, NEWLINE = "\x0e", "\x11", "\t", "\r", "\n"


def _answers() -> tuple[int, str]:
    """How many answers the newest session holds, and the status of its last one (as the app saved them)."""
    from edgetui.core.store.store import Store

    store = Store.open(Paths.from_env().db_path, read_only=True)
    try:
        sessions = store.list_sessions()
        thread = store.thread(sessions[0].id) if sessions else []
        answers = [m for m in thread if m.role == "assistant"]
        return len(answers), answers[-1].status if answers else ""
    finally:
        store.close()


def _wait_answered(term: Terminal, count: int, what: str) -> None:
    """The newest session holds `count` complete answers, and the screen no longer says one is being written."""
    done = (count, "complete")
    try:
        wait_until(lambda: _answers() == done, 120, what=f"{what} to be saved")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: the database has {_answers()}; the screen:\n{term.text()}") from None
    term.wait_for(lambda lines: not any("answering…" in line for line in lines), f"{what} on the screen")


def _rows_reading(lines: list[str], block: list[str]) -> bool:
    """`block` on consecutive screen rows, each row starting (after the pane border and margin) with its line."""
    for i in range(len(lines) - len(block) + 1):
        rows = [line.split("▏", 1)[-1] for line in lines[i : i + len(block)]]
        margin = len(rows[0]) - len(rows[0].lstrip())
        if all(row[margin:].rstrip(" ▕").startswith(want) and row[:margin].strip() == "" for row, want in
               zip(rows, block, strict=True)):  # fmt: skip
            return True
    return False


def _wheel_up(term: Terminal, row: int, col: int, times: int) -> None:
    term.write("".join(f"\x1b[<64;{col};{row}M" for _ in range(times)))  # SGR mouse: button 64 is the wheel up


def _drag(term: Terminal, row: int, first: int, last: int) -> None:
    """Press the left button at (row, first), move to (row, last) and release: a text selection (1-based)."""
    term.write(
        f"\x1b[<0;{first};{row}M\x1b[<32;{(first + last) // 2};{row}M\x1b[<32;{last};{row}M\x1b[<0;{last};{row}m"
    )


@pytest.mark.engine
@pytest.mark.slow
def test_the_chat_loop_as_a_terminal_shows_it(default_model: Path) -> None:
    """Three typed lines stay three lines; after scrolling up the next question is in sight; after Ctrl+N from the
    catalog a sentence full of catalog keys goes into the prompt; a mouse selection reaches the clipboard (OSC 52);
    and a restart opens the session again."""
    paths = Paths.from_env().ensure()
    paths.config_file.write_text("[sampler]\ntemperature = 0.0\ntop_k = 1\nmax_tokens = 40\nseed = 0\n", "utf-8")
    term = Terminal(default_model, ROWS, COLS)
    try:
        term.wait_for(lambda lines: any("ngl" in line for line in lines), "the model to load", 60)
        term.write("line one" + NEWLINE + "line two" + NEWLINE + "    indented three" + ENTER)
        _wait_answered(term, 1, "the first answer")
        term.wait_for(lambda ls: _rows_reading(ls, ["line one", "line two", "    indented three"]), "three lines")

        for i in range(3):
            term.write(f"Say the number {i}." + ENTER)
            _wait_answered(term, i + 2, f"answer {i + 2}")
        _wheel_up(term, ROWS // 2, COLS // 2, 30)
        term.wait_for(lambda ls: any("line one" in line for line in ls), "the first question after scrolling up")
        term.write("Where did the scroll go?" + ENTER)
        term.wait_for(lambda ls: any("Where did the scroll go?" in line for line in ls), "the new question in sight")
        _wait_answered(term, 5, "the answer after scrolling")

        term.write(TAB + TAB)  # prompt -> conversation -> catalog
        term.write(CTRL_N)
        term.wait_for(lambda ls: not any("Say the number" in line for line in ls), "the new, empty session")
        term.write(SENTENCE)
        screen = term.wait_for(lambda ls: any(SENTENCE in line for line in ls), "the sentence in the prompt")
        assert not any("Hugging Face" in line for line in screen), "\n".join(screen)  # h did not open the Hub
        assert any("by name" in line for line in screen), "\n".join(screen)  # s did not sort the catalog
        term.write(ENTER)
        _wait_answered(term, 1, "the answer in the new session")

        screen = term.wait_for(lambda ls: any(SENTENCE in line for line in ls), "the sent sentence")
        row = next(i for i, line in enumerate(screen) if SENTENCE in line)
        col = screen[row].index(SENTENCE)
        _drag(term, row + 1, col + 1, col + len("three hats sit"))
        assert wait_until(lambda: b"\x1b]52;c;" in term.raw, 10), "the selection was not copied (no OSC 52)"
        copied = re.search(rb"\x1b\]52;c;([A-Za-z0-9+/=]*)\x07", bytes(term.raw))
        assert copied and base64.b64decode(copied.group(1)).decode().startswith("three hats si")

        term.write(CTRL_Q)
        term.proc.wait(timeout=30)
    finally:
        term.close()

    again = Terminal(default_model, ROWS, COLS)  # the last session is open again
    try:
        again.wait_for(lambda ls: any(SENTENCE in line for line in ls), "the last session after a restart", 60)
        again.write(CTRL_Q)
        again.proc.wait(timeout=30)
    finally:
        again.close()


def test_a_hostile_server_s_escape_sequences_never_reach_the_terminal() -> None:
    """An OpenAI-compatible server streams OSC 52 (write the clipboard), OSC 0 (the window title) and a screen
    clear: the terminal gets none of them, the screen shows them as marks, and so does the session reopened."""
    from tests.fake_openai_server import FakeOpenAIServer

    osc52, title, clear = "\x1b]52;c;SGFja2Vk\x07", "\x1b]0;PWNED\x07", "\x1b[2J\x1b[31mRED"
    attacks = [osc52.encode(), title.encode(), clear.encode()]
    with FakeOpenAIServer() as server:
        server.chunks = ["Sure ", osc52, " here ", title, " and ", clear, " done."]
        paths = Paths.from_env().ensure()
        paths.config_file.write_text(
            f'[[endpoints]]\nname = "evil"\nbase_url = "{server.url}/v1"\nmodel = "fake-model"\n', "utf-8"
        )
        for run in ("first", "reopened"):
            term = Terminal(Path("openai:evil/fake-model"), ROWS, COLS)
            try:
                term.wait_for(lambda ls: any("remote · ngl" in line for line in ls), f"the endpoint loaded ({run})", 60)
                if run == "first":
                    term.write("Say something nice." + ENTER)
                screen = term.wait_for(lambda ls: any("done." in line for line in ls), f"the answer ({run})", 60)
                assert any("␛]52;c;SGFja2Vk␇" in line for line in screen), "\n".join(screen)
                assert not any(attack in term.raw for attack in attacks), (
                    f"an escape sequence reached the terminal ({run})"
                )
                term.write(CTRL_Q)
                term.proc.wait(timeout=30)
            finally:
                term.close()


@pytest.mark.slow
def test_a_paste_with_an_escape_in_it_arrives_whole_in_order_shown_as_marks_and_stored_as_pasted() -> None:
    """A bracketed paste holding ESC sequences: Textual read the ESC as a key sequence and typed what followed it
    before the paste (`FIRST ESC LAST` came in as `^[2J: LAST partFIRST`). Now the prompt holds it in order, shows
    the ESC as a mark, nothing of it reaches the terminal raw, and the database keeps it as pasted."""
    from edgetui.core.store.store import Store
    from tests.fake_openai_server import FakeOpenAIServer

    pasted = "FIRST\x1b[2J: LAST part\x1b]0;PWNED\x07 end"
    with FakeOpenAIServer() as server:
        server.chunks = ["Got ", "it."]
        paths = Paths.from_env().ensure()
        paths.config_file.write_text(
            f'[[endpoints]]\nname = "box"\nbase_url = "{server.url}/v1"\nmodel = "fake-model"\n', "utf-8"
        )
        term = Terminal(Path("openai:box/fake-model"), ROWS, COLS)
        try:
            term.wait_for(lambda ls: any("remote · ngl" in line for line in ls), "the endpoint loaded", 60)
            before = len(term.raw)
            term.write(f"\x1b[200~{pasted}\x1b[201~")
            shown = "FIRST␛[2J: LAST part␛]0;PWNED␇ end"
            term.wait_for(lambda ls: any(shown in line for line in ls), "the paste in the prompt, in order, as marks")
            assert b"\x1b[2J" not in term.raw[before:] and b"PWNED\x07" not in term.raw[before:]
            term.write(ENTER)
            term.wait_for(lambda ls: any("Got it." in line for line in ls), "the answer")
            term.write(CTRL_Q)
            term.proc.wait(timeout=30)
        finally:
            term.close()
    store = Store.open(paths.db_path, read_only=True)
    try:
        thread = store.thread(store.list_sessions()[0].id)
        assert thread[0].role == "user" and thread[0].content == pasted
    finally:
        store.close()
