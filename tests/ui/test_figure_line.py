"""A line of figures wraps between them, never inside one."""

from __future__ import annotations

from edgetui.ui.widgets.figure_line import pack

LINE = "11 tok · 120.0 tok/s · TTFT 50 ms · prompt 10 tok @ 500 tok/s"


def test_figures_wrap_between_them() -> None:
    assert pack(LINE, 80) == [LINE]
    assert pack(LINE, 40) == ["11 tok · 120.0 tok/s · TTFT 50 ms ·", "prompt 10 tok @ 500 tok/s"]
    assert all(len(line) <= 20 for line in pack(LINE, 20))
    assert " ".join(pack(LINE, 20)).replace("· ", "").split() == LINE.replace("· ", "").split()


def test_a_figure_wider_than_the_line_is_word_wrapped() -> None:
    lines = pack("error: the server said something very long indeed", 12)
    assert all(len(line) <= 12 for line in lines) and " ".join(lines).startswith("error: the")
