"""LlamaEngine's own token loop against llama-cpp-python's create_completion: same greedy text, stops and lengths."""

from __future__ import annotations

import pytest

from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.llama_thread import LlamaThread
from edgetui.core.engines.token_stream import TokenStream
from edgetui.core.types import ChatMessage, SamplerSettings, StopReason

pytestmark = pytest.mark.engine

PROMPTS = {
    "plain": "Say hello in one short sentence.",
    "accents": "Write 'good morning' in French, Spanish, Japanese and Chinese.",
    "emoji": "Give me three emojis about the sea.",  # each emoji is split over several tokens
    "long": "Count from 1 to 100.",
}


def fresh(engine: LlamaEngine) -> None:
    """Forget the evaluated prompt: a prompt decoded whole and one replayed from the KV cache differ in the last
    bits of the logits, enough to change a greedy answer now and then, so both sides start from the same state."""
    LlamaThread.shared().call(engine.llama.reset)


def completion(engine: LlamaEngine, question: str, max_tokens: int, extra_stop: tuple[str, ...] = ()):
    """llama-cpp-python's own greedy streaming of the same prompt, from a fresh state: (text, finish_reason)."""
    tokens, stop, criteria = engine.format_prompt([ChatMessage("user", question)])
    fresh(engine)

    def run() -> tuple[str, str]:
        parts = engine.llama.create_completion(
            prompt=tokens,
            stream=True,
            stop=[*stop, *extra_stop],
            stopping_criteria=criteria,
            max_tokens=max_tokens,
            temperature=0.0,
            top_p=1.0,
            top_k=1,
            min_p=0.0,
            repeat_penalty=1.0,
            seed=0,
        )
        choices = [part["choices"][0] for part in parts]
        return "".join(c["text"] for c in choices), choices[-1]["finish_reason"]

    return LlamaThread.shared().call(run)


def answer(engine: LlamaEngine, question: str, max_tokens: int):
    """The engine's greedy answer, from a fresh state: (text, generation)."""
    fresh(engine)
    gen = engine.stream_chat([ChatMessage("user", question)], SamplerSettings.greedy(max_tokens))
    return gen.run(), gen


@pytest.mark.parametrize(("name", "max_tokens"), [("plain", 64), ("accents", 64), ("emoji", 48), ("long", 160)])
def test_greedy_text_equals_create_completion(shared_engine: LlamaEngine, name: str, max_tokens: int) -> None:
    text, gen = answer(shared_engine, PROMPTS[name], max_tokens)
    expected, finish = completion(shared_engine, PROMPTS[name], max_tokens)
    assert text == expected
    assert text.strip()
    assert gen.stats.stop_reason is (StopReason.LENGTH if finish == "length" else StopReason.EOS)
    assert all(part for part in gen.text_parts)
    assert "\ufffd" not in text


def test_max_tokens_gives_length_with_exactly_that_many_tokens(shared_engine: LlamaEngine) -> None:
    text, gen = answer(shared_engine, PROMPTS["long"], 12)
    expected, finish = completion(shared_engine, PROMPTS["long"], 12)
    assert (text, finish) == (expected, "length")
    assert gen.stats.stop_reason is StopReason.LENGTH
    assert gen.stats.engine_timings["n_eval"] == 11  # the 12th token is sampled, never decoded
    assert len(shared_engine.llama.tokenize(text.encode(), add_bos=False, special=False)) <= 12


def test_a_stop_string_cuts_the_answer(shared_engine: LlamaEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    full, _ = answer(shared_engine, PROMPTS["long"], 96)
    word = "\n13. 1"  # spans several tokens of the greedy answer ("...12. 12\n13. 13\n...")
    assert word in full
    tokens, stop, criteria = shared_engine.format_prompt([ChatMessage("user", PROMPTS["long"])])
    monkeypatch.setattr(shared_engine, "format_prompt", lambda messages: (tokens, [*stop, word], criteria))
    text, gen = answer(shared_engine, PROMPTS["long"], 96)
    assert text == full[: full.index(word)]
    assert gen.stats.stop_reason is StopReason.EOS
    assert not any(word in part for part in gen.text_parts)
    monkeypatch.undo()
    expected, finish = completion(shared_engine, PROMPTS["long"], 96, extra_stop=(word,))
    assert (text, finish) == (expected, "stop")


def test_pieces_are_llama_cpp_pythons_detokenize_bytes_and_whole_when_long(shared_engine: LlamaEngine) -> None:
    llm = shared_engine.llama

    def pieces() -> list[tuple[int, bytes, bytes, list[int]]]:
        """(token, our piece, llama-cpp-python's bytes, our piece tokenized again) for every token that differs."""
        piece = TokenStream.for_llama(llm).piece
        diff = [(t, piece(t), llm._model.detokenize([t], special=False)) for t in range(llm.n_vocab())]
        return [(t, a, b, llm.tokenize(a, add_bos=False, special=False)) for t, a, b in diff if a != b]

    differ = LlamaThread.shared().call(pieces)
    # llama-cpp-python reads at most 32 bytes a token and gives b"" for longer pieces ("\n" + 32 spaces, "---...")
    assert 0 < len(differ) < 100  # SmolLM2 has a few dozen such tokens
    assert all(len(ours) > 32 and theirs == b"" and again == [t] for t, ours, theirs, again in differ)
