"""Where edgetui reaches into Textual's internals for the terminal's safety: version-gated (textual is pinned), and
with a public fallback (edgetui's widgets pass untrusted text through `visible()` themselves)."""

from __future__ import annotations

import textual
from textual import content

from edgetui.core.visible_text import CONTROL_MARKS

TESTED_VERSIONS = ("8.2.8",)  # the versions whose internals this module was checked against


def show_control_characters() -> bool:
    """Every text Textual shows through its `Content` (Static, Label, Markdown, toasts, inputs...) shows control
    characters as marks (ESC as ␛) instead of passing them to the terminal: Textual deletes five of them (BEL, BS,
    VT, FF, CR) and lets the others through, ESC among them. A safety net under the app's own `visible()` calls, for
    any text that reaches a widget another way. False (nothing changed) on a Textual this was not checked against."""
    table = getattr(content, "_CONTROL_STRIP_TRANSLATE", None)
    if textual.__version__ not in TESTED_VERSIONS or not isinstance(table, dict):
        return False
    table.update({code: mark for code, mark in CONTROL_MARKS.items() if code != 0x0D})  # CR: still deleted
    return True
