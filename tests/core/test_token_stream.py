"""TokenStream in pure Python: UTF-8 split over tokens, stop strings held back, cut and flushed."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from edgetui.core.engines.token_stream import TokenStream

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
STOPS = st.lists(st.text(alphabet="ab#<|>\n", min_size=1, max_size=5), max_size=3)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo its length), in order."""
    at = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(at, at[1:], strict=False)]


def run(pieces: list[bytes], stop: Sequence[str] = ()) -> tuple[list[str], TokenStream]:
    """Feed every piece as one token; the released texts (flush last) and the stream."""
    stream = TokenStream(pieces.__getitem__, stop)
    out = [stream.feed(i) for i in range(len(pieces))]
    out.append(stream.flush())
    return out, stream


def reference(text: str, stop: Sequence[str]) -> str:
    """Reading a character at a time: the text up to the first stop string to be complete (the longest, on a tie)."""
    for k in range(1, len(text) + 1):
        cuts = [text.find(s) for s in stop if s and s in text[:k]]
        if cuts:
            return text[: min(cuts)]
    return text


@given(TEXT, st.lists(st.integers(min_value=0), max_size=20))
def test_any_split_without_stops_gives_the_text(text: str, cuts: list[int]) -> None:
    out, stream = run(split(text.encode(), cuts))
    assert "".join(out) == text
    assert not stream.stopped


@given(TEXT, st.lists(st.integers(min_value=0), max_size=20))
def test_multibyte_characters_come_out_whole(text: str, cuts: list[int]) -> None:
    out, _ = run(split(text.encode(), cuts))
    for part in out:  # every release is whole characters: nothing split, no replacement characters
        assert "\ufffd" not in part or "\ufffd" in text
        assert part.encode().decode() == part


@given(st.text(alphabet="ab#<|>\nxé", max_size=40), STOPS, st.lists(st.integers(min_value=0), max_size=20))
def test_stream_equals_reading_the_whole_text(text: str, stop: list[str], cuts: list[int]) -> None:
    out, stream = run(split(text.encode(), cuts), stop)
    joined = "".join(out)
    assert joined == reference(text, stop)
    assert stream.stopped == (joined != text)
    assert not any(s in joined for s in stop)


@given(st.text(alphabet="ab#<|>\n", max_size=40), STOPS, st.lists(st.integers(min_value=0), max_size=20))
def test_released_text_never_holds_a_stop_and_never_takes_back(text: str, stop: list[str], cuts: list[int]) -> None:
    pieces = split(text.encode(), cuts)
    stream = TokenStream(pieces.__getitem__, stop)
    released = ""
    for i in range(len(pieces)):
        released += stream.feed(i)
        assert not any(s in released for s in stop)
        assert text.startswith(released)
        if not stream.stopped:  # everything decoded is either released or held back, and the held part is short
            assert released + stream.held == text[: len(released) + len(stream.held)]
            assert len(stream.held) < max((len(s) for s in stop), default=1)


def test_held_back_text_is_released_when_it_turns_out_not_to_be_a_stop() -> None:
    pieces = [b"Hello", b" <", b"|im", b"_x", b"y"]
    stream = TokenStream(pieces.__getitem__, ["<|im_end|>"])
    assert [stream.feed(i) for i in range(3)] == ["Hello", " ", ""]
    assert stream.held == "<|im"
    assert stream.feed(3) == "<|im_x"
    assert stream.feed(4) == "y"
    assert stream.flush() == ""


def test_a_stop_string_cuts_the_answer_and_ends_the_stream() -> None:
    pieces = [b"Answer: 4", b"2\n#", b"## Instruction", b" more"]
    stream = TokenStream(pieces.__getitem__, ["###", "</s>"])
    assert stream.feed(0) == "Answer: 4"
    assert stream.feed(1) == "2\n"
    assert not stream.stopped
    assert stream.feed(2) == ""
    assert stream.stopped
    assert stream.feed(3) == "" and stream.flush() == ""


def test_the_stop_string_that_ends_first_wins() -> None:
    out, stream = run([b"one two three"], ["three", "two"])
    assert "".join(out) == "one " and stream.stopped
    out, stream = run([b"xaby"], ["b", "ab", "xabyz"])
    assert "".join(out) == "x" and stream.stopped  # "ab" and "b" both end first: the longer one counts


def test_flush_releases_a_held_stop_prefix_at_the_end() -> None:
    out, stream = run([b"x <|im_e"], ["<|im_end|>"])
    assert out == ["x ", "<|im_e"] and not stream.stopped


def test_an_incomplete_character_at_the_end_becomes_a_replacement_character() -> None:
    euro = "€".encode()
    stream = TokenStream([euro[:1], euro[1:], euro[:2]].__getitem__)
    assert stream.feed(0) == "" and stream.feed(1) == "€"
    assert stream.feed(2) == ""
    assert stream.flush() == "\ufffd"


def test_empty_stop_strings_are_ignored() -> None:
    out, stream = run([b"abc"], ["", ""])
    assert out == ["abc", ""] and not stream.stopped
