"""Sizes as people read them: one rule (IEC units, three significant digits) for every screen and command."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def format_bytes(n: float | None) -> str:
    """A size in IEC units: whole bytes below 1 KiB ('0 B', '1023 B'), then three significant digits in the
    largest unit that keeps the number at 1 or more ('1.50 KiB', '93.8 MiB', '123 MiB', '10.0 GiB'); TiB is
    the last unit ('5120 TiB'). None is '–'; a negative size (a difference) keeps its sign."""
    if n is None:
        return "–"
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    text, unit = f"{v:.0f}", UNITS[0]
    for bigger in UNITS[1:]:
        if float(text) < 1024:  # as written: 1023.7 KiB would read 1024 KiB, so it is 1.00 MiB
            break
        v /= 1024
        unit = bigger
        text = f"{v:.2f}" if round(v, 2) < 10 else f"{v:.1f}" if round(v, 1) < 100 else f"{v:.0f}"
    return f"{sign}{text} {unit}"
