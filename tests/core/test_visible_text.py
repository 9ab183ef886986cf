"""Untrusted text shown on a terminal: every control character as a visible mark, nothing else changed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edgetui.core.visible_text import CONTROL_MARKS, is_visible, visible

HOSTILE = "before\x1b]52;c;SGFja2Vk\x07\x1b[2J\x1b]0;PWNED\x07\x9b31m\u202eevil\x7fafter"


def test_escape_sequences_are_shown_not_obeyed() -> None:
    shown = visible(HOSTILE)
    assert shown == "before␛]52;c;SGFja2Vk␇␛[2J␛]0;PWNED␇\ufffd31m\ufffdevil␡after"
    assert is_visible(shown) and not is_visible(HOSTILE)


def test_ordinary_text_comes_back_unchanged() -> None:
    text = "Line one\n\tindented — ünïcödé 漢字 🙂 ‏עברית‎ ZWJ 👩\u200d💻"
    assert visible(text) is text  # (the same object: nothing to replace, nothing copied)


def test_crlf_line_ends_become_lf_and_a_lone_cr_is_shown() -> None:
    assert visible("a\r\nb\rc") == "a\nb␍c"


@given(st.text())
def test_no_control_character_is_left(text: str) -> None:
    shown = visible(text)
    assert not any(ord(ch) in CONTROL_MARKS for ch in shown)
    assert len(shown) == len(text) - text.count("\r\n")  # one mark a character
