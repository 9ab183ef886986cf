"""Which path the UI tests run on: Textual's internals (edgetui/ui/_textual.py) or, with EDGETUI_TEXTUAL_PUBLIC=1,
Textual's public behaviour only. `internals` marks a test of what the internals do: skipped on the public path."""

from __future__ import annotations

import pytest

from edgetui.ui import _textual

internals = pytest.mark.skipif(
    not _textual.fast(), reason=f"tests Textual's internals, not used here: {_textual.public_reason()}"
)
