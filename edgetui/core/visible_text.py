"""Untrusted text (a model's, a server's, a file's, the database's) made safe to show on a terminal: every control
character is shown as a visible mark, so no escape sequence in it reaches the terminal as a command."""

from __future__ import annotations

import re

# One mark a character, so that offsets into the text stay where they were: C0 controls as their Unicode control
# pictures (ESC as ␛; tab and newline kept), DEL as ␡; C1 controls (8-bit CSI, OSC, ... which some terminals obey)
# and the bidirectional overrides that reorder what is shown, as the replacement character.
CONTROL_MARKS: dict[int, str] = {code: chr(0x2400 + code) for code in range(0x20) if code not in (0x09, 0x0A)}
CONTROL_MARKS[0x7F] = "␡"
CONTROL_MARKS.update({code: "\ufffd" for code in (*range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
_UNSAFE = re.compile("[" + "".join(re.escape(chr(code)) for code in CONTROL_MARKS) + "]")


def visible(text: str) -> str:
    """`text` with each control character replaced by a visible mark ('\\x1b]52;...' shows as '␛]52;...'); line
    ends written as CR LF become LF. Text with none (nearly all of it) comes back as it is, at the cost of one scan."""
    if not _UNSAFE.search(text):
        return text
    return text.replace("\r\n", "\n").translate(CONTROL_MARKS)


def is_visible(text: str) -> bool:
    """True when `text` holds no control character that `visible` would replace."""
    return _UNSAFE.search(text) is None
