"""TokenStream: generated token ids to text, one token at a time, holding back what may become a stop string."""

from __future__ import annotations

import codecs
import ctypes
from collections.abc import Callable, Iterable
from typing import Any


class TokenStream:
    """Incremental detokenizer with stop strings; constant work per token, whatever the length of the answer.

    `piece(token)` gives a token's bytes. A UTF-8 character split over tokens comes out whole once its last byte
    arrives (invalid bytes become U+FFFD). Text that could be the start of a stop string is held back until it is
    clear; when a stop string appears, the text before it is released and `stopped` turns true, and later tokens
    are ignored. The first stop string to end is the one that counts (as when reading a character at a time), so
    the result does not depend on how the text is split into tokens. `flush()` at the end releases what is held.
    """

    def __init__(self, piece: Callable[[int], bytes], stop: Iterable[str] = ()) -> None:
        self.piece = piece
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.stop = tuple(s for s in stop if s)
        self.stopped = False
        self._held = ""  # text not yet released: it ends with the start of a stop string

    @classmethod
    def for_llama(cls, llm: Any, stop: Iterable[str] = ()) -> TokenStream:
        """A stream over a `llama_cpp.Llama`'s tokens: the bytes of `llm.detokenize([token])` (special tokens give
        none), read into one reused buffer, and whole for pieces over 32 bytes, where that gives b"" instead."""
        import llama_cpp

        vocab, to_piece = llm._model.vocab, llama_cpp.llama_token_to_piece
        buf = ctypes.create_string_buffer(64)

        def piece(token: int) -> bytes:
            n = to_piece(vocab, token, buf, 64, 0, False)
            if n >= 0:
                return buf.raw[:n]
            big = ctypes.create_string_buffer(-n)  # a longer piece: llama.cpp asks for -n bytes
            n = to_piece(vocab, token, big, -n, 0, False)
            return big.raw[:n]

        return cls(piece, stop)

    @property
    def held(self) -> str:
        """Text decoded but not released yet."""
        return self._held

    def feed(self, token: int) -> str:
        """The text that token `token` releases (often all of its own text, sometimes "" or more)."""
        if self.stopped:
            return ""
        text = self._decoder.decode(self.piece(token))
        if not self.stop:
            return text
        return self._release(self._held + text)

    def flush(self) -> str:
        """At the end of the answer: everything still held back (and any incomplete character, as U+FFFD)."""
        if self.stopped:
            return ""
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        cut = self._first_stop(text)
        if cut >= 0:
            self.stopped = True
            return text[:cut]
        return text

    def _release(self, text: str) -> str:
        cut = self._first_stop(text)
        if cut >= 0:
            self.stopped = True
            self._held = ""
            return text[:cut]
        keep = self._stop_start(text)
        self._held = text[keep:]
        return text[:keep]

    def _first_stop(self, text: str) -> int:
        """Where the stop string that ends first in `text` begins (the longest, of those ending there), or -1."""
        first, first_end = -1, 0
        for s in self.stop:
            i = text.find(s)
            if i >= 0 and (first < 0 or i + len(s) < first_end or (i + len(s) == first_end and i < first)):
                first, first_end = i, i + len(s)
        return first

    def _stop_start(self, text: str) -> int:
        """Where the longest end of `text` that is a proper start of a stop string begins (len(text) if none)."""
        n = len(text)
        keep = n
        for s in self.stop:
            j = max(0, n - len(s) + 1)
            head = s[0]
            while j < keep:
                j = text.find(head, j, keep)
                if j < 0:
                    break
                if s.startswith(text[j:]):
                    keep = j
                    break
                j += 1
        return keep
