"""Sizes are written by units.format_bytes alone: no other f-string in edgetui puts KiB, MB, GiB... after a number
(an exact count, '{n} bytes', is not a size formatter)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import edgetui

ROOT = Path(edgetui.__file__).parent
UNIT = re.compile(r"^\s?[KMGTP]i?B\b")  # ' MiB', 'GB' right after a {value}


def hand_formatted_sizes(source: str) -> list[int]:
    """Lines of f-strings that write a unit of bytes right after a formatted value ('{n / 2**20:.1f} MiB')."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        parts = node.values
        for before, after in zip(parts, parts[1:], strict=False):
            if (
                isinstance(before, ast.FormattedValue)
                and isinstance(after, ast.Constant)
                and isinstance(after.value, str)
                and UNIT.match(after.value)
            ):
                lines.append(node.lineno)
    return lines


def test_the_check_finds_hand_formatted_sizes() -> None:
    assert hand_formatted_sizes('x = f"{n / 2**20:.1f} MiB"') == [1]
    assert hand_formatted_sizes('x = f"{n / 1e9:.2f}GB free"') == [1]
    assert hand_formatted_sizes('x = f"{format_bytes(n)} ({n:,} bytes)"') == []
    assert hand_formatted_sizes('x = f"{kb}KiBs"') == []
    assert hand_formatted_sizes('x = f"{n} tok, {m:.1f} tok/s"') == []


def test_no_module_but_units_formats_byte_sizes() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted(ROOT.rglob("*.py"))
        if path != ROOT / "core" / "units.py" and (lines := hand_formatted_sizes(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"format these sizes with edgetui.core.units.format_bytes: {found}"
