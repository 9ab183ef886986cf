"""A bracketed paste arrives as one Paste event with its text exactly as pasted (ESCs and all, in order), however the
terminal's reads split it; keys around it stay keys."""

from __future__ import annotations

import pytest
from textual import events
from textual._xterm_parser import XTermParser

from edgetui.ui.paste_guard import PasteKeepingParser

START, END = "\x1b[200~", "\x1b[201~"
PASTED = "FIRST\x1b[2J: LAST part\x1b]52;c;SGVsbG8=\x07 and \x1b"


def _events(parser, reads: list[str]) -> list:
    out = []
    for data in reads:
        out.extend(parser.feed(data))
        out.extend(parser.tick())
    out.extend(parser.feed(""))
    return out


def _summary(tokens: list) -> list[tuple[str, str]]:
    return [("paste", t.text) if isinstance(t, events.Paste) else ("key", t.key) for t in tokens
            if isinstance(t, events.Paste | events.Key)]  # fmt: skip


def test_textual_s_own_parser_reorders_such_a_paste() -> None:
    """What the guard is for (if this starts failing, Textual fixed it and the guard may go)."""
    got = _summary(_events(XTermParser(), [f"{START}{PASTED}{END}"]))
    assert got != [("paste", PASTED)]


@pytest.mark.parametrize("cut", [None, 1, 3, 5, 6, 7, 9, 12, 30, 44, 45, 47, 50, 52])
def test_a_paste_with_escs_is_one_event_in_order_wherever_the_reads_split_it(cut: int | None) -> None:
    data = f"a{START}{PASTED}{END}b"
    reads = [data] if cut is None else [data[:cut], data[cut:]]
    assert _summary(_events(PasteKeepingParser(), reads)) == [("key", "a"), ("paste", PASTED), ("key", "b")]


def test_one_character_a_read() -> None:
    data = f"x{START}{PASTED}{END}y"
    assert _summary(_events(PasteKeepingParser(), list(data))) == [("key", "x"), ("paste", PASTED), ("key", "y")]


def test_keys_outside_a_paste_are_read_as_before() -> None:
    keys = "\x1b[A\x1b[1;5Cq\x1b"  # up, ctrl+right, q, and a lone Escape
    assert _summary(_events(PasteKeepingParser(), [keys])) == _summary(_events(XTermParser(), [keys]))
    assert _summary(_events(PasteKeepingParser(), ["\x1b["])) == _summary(_events(XTermParser(), ["\x1b["]))
