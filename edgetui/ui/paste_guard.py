"""A bracketed paste arrives whole and in order, whatever it holds: Textual's parser reads an ESC inside a paste as
the start of a key sequence, so it sent the text after it as key presses before the paste itself (`FIRST ESC LAST`
became `^[2J: LAST` typed, then `FIRST` pasted, and the keys could run bindings)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import textual
from textual import events

from edgetui.ui._textual import BRACKETED_PASTE_END, BRACKETED_PASTE_START, XTermParser, fast

TESTED_VERSIONS = ("8.2.8",)  # the versions whose parser and Linux driver this module was checked against
ESC = "\x1b"
HIDDEN_ESC = "\ue01b"  # (a private-use character) an ESC of the pasted text while Textual's parser reads it


def _split_marker(text: str, marker: str, shortest: int) -> int:
    """Where a proper prefix of `marker`, `shortest` characters or more, ends `text`, or len(text): that tail may be
    the first part of a marker the next read completes."""
    for size in range(min(len(marker) - 1, len(text)), shortest - 1, -1):
        if text.endswith(marker[:size]):
            return len(text) - size
    return len(text)


class PasteKeepingParser(XTermParser):
    """XTermParser that hides the ESCs of a bracketed paste's text from the key parser, and gives them back in the
    Paste event: the paste is one event, its text exactly as pasted (shown with marks by the widget it goes to).
    Outside a paste the input goes through as it came, at once (a lone Escape is not held back)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pasting = False
        self._partial = ""  # outside a paste: the end of the input so far that may begin a paste's start marker
        self._held = ""  # in a paste: the end of the last read that may begin its end marker (not yet passed on)

    def guard(self, data: str) -> str:
        """`data` with the ESCs inside a paste replaced (the paste's own markers kept), across reads."""
        out: list[str] = []
        if self._pasting:
            data, self._held = self._held + data, ""
        while data:
            if not self._pasting:
                probe = self._partial + data
                start = probe.find(BRACKETED_PASTE_START)
                if start < 0:
                    out.append(data)
                    self._partial = probe[_split_marker(probe, BRACKETED_PASTE_START, 1) :]
                    break
                after = start + len(BRACKETED_PASTE_START) - len(self._partial)  # (in `data`)
                out.append(data[:after])
                data, self._partial, self._pasting = data[after:], "", True
            else:
                end = data.find(BRACKETED_PASTE_END)
                if end < 0:
                    keep = _split_marker(data, BRACKETED_PASTE_END, 1)
                    out.append(data[:keep].replace(ESC, HIDDEN_ESC))
                    self._held = data[keep:]
                    break
                out.append(data[:end].replace(ESC, HIDDEN_ESC) + BRACKETED_PASTE_END)
                data, self._pasting = data[end + len(BRACKETED_PASTE_END) :], False
        return "".join(out)

    def feed(self, data: str) -> Iterable[Any]:
        if data:
            data = self.guard(data)
            if not data:
                return
        elif self._held:  # the end of input inside a paste: what was held back is what it is
            held, self._held = self._held, ""
            yield from self._restored(super().feed(held))
        yield from self._restored(super().feed(data))

    def tick(self) -> Iterable[Any]:
        yield from self._restored(super().tick())

    @staticmethod
    def _restored(tokens: Iterable[Any]) -> Iterable[Any]:
        for token in tokens:
            if isinstance(token, events.Paste) and HIDDEN_ESC in token.text:
                token = events.Paste(token.text.replace(HIDDEN_ESC, ESC))
            yield token


def keep_pastes_whole() -> bool:
    """Make the Linux driver read input with PasteKeepingParser; False (Textual's own parser) on a Textual this was
    not checked against."""
    try:
        from textual.drivers import linux_driver
    except ImportError:  # (not on Linux)
        return False
    current = getattr(linux_driver, "XTermParser", None)
    if current is PasteKeepingParser:
        return True
    if textual.__version__ not in TESTED_VERSIONS or not fast() or current is not XTermParser:
        return False
    linux_driver.XTermParser = PasteKeepingParser  # type: ignore[misc]
    return True
