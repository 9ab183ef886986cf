"""The chat's pace with the real engine: each chunk it hands over (several tokens) reaches the screen at once."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from edgetui.core.chat.conversation import Conversation
from edgetui.core.engines.llama import GATHER_S, LlamaEngine
from edgetui.core.store.store import Store
from edgetui.core.types import SamplerSettings
from edgetui.ui.chat.chat_pane import FLUSH_S

pytestmark = pytest.mark.engine


class CountingEngine:
    """The shared engine, counting the chunks its generations hand over and the tokens they carry."""

    def __init__(self, engine: LlamaEngine) -> None:
        self.engine, self.chunks, self.tokens = engine, 0, 0
        self.info = engine.info

    def stream_chat(self, *args: Any, **kwargs: Any) -> Any:
        gen = self.engine.stream_chat(*args, **kwargs)
        outer = self

        class Counted:
            stats = gen.stats

            def __iter__(self):
                for chunk in gen:
                    outer.chunks += 1
                    outer.tokens += chunk.tokens
                    yield chunk

        return Counted()


def test_each_chunk_of_the_local_engine_is_shown_at_once(shared_engine: LlamaEngine) -> None:
    conv = Conversation(Store.memory(), sampler=SamplerSettings.greedy(max_tokens=96, seed=0))
    conv.add_user("Write a long story about a dragon.")
    answer_id = conv.begin_answer()
    engine = CountingEngine(shared_engine)
    shown: list[tuple[str, int]] = []
    answer = conv.stream_answer(
        engine,  # type: ignore[arg-type]
        answer_id,
        threading.Event(),
        lambda text, tokens, t: shown.append((text, tokens)),
        flush_s=FLUSH_S,
    )
    assert "".join(text for text, _ in shown) == answer.text != ""
    assert sum(tokens for _, tokens in shown) == engine.tokens  # the token counts travel with the text
    # The engine hands over what it made in the last 1/25 s, a little more than the chat's FLUSH_S: each chunk
    # (but perhaps the first, when the prompt took less than FLUSH_S) is shown when it arrives, not one batch later.
    assert GATHER_S > FLUSH_S
    assert len(shown) >= engine.chunks - 1
    if answer.stats.gen_tps > 2 / GATHER_S:  # two tokens or more in 1/25 s: chunks carry several
        assert engine.chunks < answer.stats.gen_tokens
