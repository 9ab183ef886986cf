"""requantize_check: what quantizing an already quantized file can give (the rule the dialog and CLI show)."""

from __future__ import annotations

import pytest

from edgetui.core.tools.quantize import OFFERED, requantize_check

NAME = "SmolLM2-135M-Instruct.Q4_1"


def test_q4_1_to_q8_0_is_no_better_only_bigger() -> None:
    check = requantize_check(NAME, "Q4_1", "Q8_0")
    assert check.quantized and check.bigger
    assert check.note == (
        "SmolLM2-135M-Instruct.Q4_1 is already quantized (Q4_1): a Q8_0 made from it is no better than Q4_1, "
        "only bigger; quantize from an F16/F32 file for real Q8_0 quality."
    )


@pytest.mark.parametrize("source", ["F32", "F16", "BF16", "f16"])
@pytest.mark.parametrize("target", OFFERED)
def test_an_unquantized_source_gets_no_note(source: str, target: str) -> None:
    check = requantize_check(NAME, source, target)
    assert not check.quantized and not check.bigger and check.note == ""


@pytest.mark.parametrize("source", ["", "type 99", "?"])
def test_an_unknown_source_type_gets_no_note(source: str) -> None:
    check = requantize_check(NAME, source, "Q8_0")
    assert not check.quantized and not check.bigger and check.note == ""


@pytest.mark.parametrize(
    ("source", "target", "bigger"),
    [
        ("Q4_1", "Q6_K", True),
        ("Q4_1", "Q5_K_M", True),  # 5.7 bits against 5.0
        ("Q4_1", "Q4_K_M", False),  # 4.85 bits
        ("Q4_1", "Q2_K", False),
        ("Q8_0", "Q4_K_M", False),
        ("Q2_K", "Q3_K_M", True),
        ("Q4_K_M", "Q5_K_S", True),
        ("IQ4_XS", "Q4_0", True),
        ("Q4_K", "Q8_0", True),  # a ggml tensor type name (files without general.file_type)
        ("q4_1", "q8_0", True),  # any case
    ],
)
def test_bigger_means_more_bits_per_weight_than_the_source(source: str, target: str, bigger: bool) -> None:
    check = requantize_check(NAME, source, target)
    assert check.quantized and check.bigger is bigger
    assert check.note.startswith(f"{NAME} is already quantized ({source.upper()}): ")
    if bigger:
        assert f"no better than {source.upper()}, only bigger" in check.note
    else:
        assert "rounded twice" in check.note and f"for the best {target.upper()}." in check.note


def test_to_an_unquantized_type_and_to_the_same_type() -> None:
    f16 = requantize_check(NAME, "Q4_1", "F16")
    assert f16.bigger and "an F16 made from it is no better than Q4_1, only bigger" in f16.note
    assert "use the original F16/BF16/F32 file instead" in f16.note
    same = requantize_check(NAME, "Q4_1", "Q4_1")
    assert same.quantized and not same.bigger and "at best the same file again" in same.note


def test_an_unknown_target_gets_no_note() -> None:
    check = requantize_check(NAME, "Q4_1", "Q1_X")
    assert check.quantized and not check.bigger and check.note == ""


def test_articles() -> None:
    assert "an IQ4_XS made" in requantize_check(NAME, "Q8_0", "IQ4_XS").note
    assert "a Q2_K made" in requantize_check(NAME, "Q8_0", "Q2_K").note
