"""format_bytes: the one way sizes are written (IEC units, three significant digits)."""

from __future__ import annotations

import pytest

from edgetui.core.units import format_bytes

KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1, "1 B"),
        (512, "512 B"),
        (1023, "1023 B"),  # whole bytes below 1 KiB
        (1024, "1.00 KiB"),
        (1536, "1.50 KiB"),
        (10 * KIB - 1, "10.0 KiB"),  # 9.999 KiB rounds to 10.0, written with one decimal
        (100 * KIB, "100 KiB"),
        (1023 * KIB, "1023 KiB"),
        (MIB - 1, "1.00 MiB"),  # 1023.999 KiB would read 1024 KiB: the next unit instead
        (98_362_432, "93.8 MiB"),  # the bundled SmolLM2 Q4_1 file
        (96_576_768, "92.1 MiB"),  # its tensors, as llama-bench's size column counts them
        (4 * GIB, "4.00 GiB"),
        (int(1.234 * GIB), "1.23 GiB"),
        (10 * GIB, "10.0 GiB"),
        (TIB, "1.00 TiB"),
        (5 * 1024 * TIB, "5120 TiB"),  # TiB is the last unit
        (10**20, "90949470 TiB"),
        (-1536, "-1.50 KiB"),  # a difference keeps its sign
        (2.5 * MIB, "2.50 MiB"),  # floats too (rates in bytes/s)
        (None, "–"),
    ],
)
def test_format_bytes(n: float | None, text: str) -> None:
    assert format_bytes(n) == text


def test_three_significant_digits_from_1_kib_to_1_tib() -> None:
    for exp in range(10, 40):
        for n in (1 << exp, 3 << exp, 7 << exp):
            number, unit = format_bytes(n).split()
            assert unit in ("KiB", "MiB", "GiB", "TiB")
            assert 1 <= float(number) < 1024
            digits = number.replace(".", "").lstrip("0")
            assert len(digits) == 3 or (len(digits) == 4 and "." not in number), number
