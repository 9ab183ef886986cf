"""Helpers of the OpenAI-compatible engine: token estimates, quantization names, a streamed answer's tally."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgetui.core.gguf.files import FTYPES
from edgetui.core.types import ChatMessage, GenerationStats, StopReason

# Request fields beyond the OpenAI API (llama-server and llama-cpp-python read them); a strict server that
# rejects one of them with HTTP 400/422 is asked again without them, and they stay off for that engine.
EXTRA_FIELDS = ("top_k", "min_p", "repeat_penalty", "stream_options")
# count_tokens with no tokenizer endpoint: ~4 characters a token, plus the chat template's tokens per message.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
_OLLAMA_KEYS = ("prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration", "total_duration")


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """About len(text)/4 tokens, plus MESSAGE_OVERHEAD_TOKENS a message for the chat template."""
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def guess_quant(model: str) -> str:
    """The quantization named in a model id (`...-Q4_K_M.gguf`, `llama3:8b-q4_0`), or ''."""
    for name in sorted(FTYPES, key=len, reverse=True):
        if re.search(rf"(?i)(?:^|[^a-z0-9]){re.escape(name)}(?:$|[^a-z0-9])", model):
            return name
    return ""


@dataclass
class StreamTally:
    """What one streamed answer has told so far: text chunks, finish reason, usage and server timings."""

    n_chunks: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    finish: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)  # llama-server's
    ollama: dict[str, Any] = field(default_factory=dict)

    def absorb(self, obj: Any) -> tuple[str, str]:
        """(text, error) carried by one SSE event, or by a whole non-streamed completion."""
        if not isinstance(obj, dict):
            return "", ""
        if obj.get("error"):
            err = obj["error"]
            return "", str(err.get("message") or err) if isinstance(err, dict) else str(err)
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        if isinstance(obj.get("timings"), dict):
            self.timings = obj["timings"]
        self.ollama.update({k: obj[k] for k in _OLLAMA_KEYS if isinstance(obj.get(k), int | float)})
        text = ""
        choices = obj.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            piece = choice.get("delta") or choice.get("message") or {}
            content = piece.get("content") if isinstance(piece, dict) else None
            text += content if isinstance(content, str) else ""
            reason = choice.get("finish_reason")
            self.finish = reason if isinstance(reason, str) and reason else self.finish
        return text, ""

    def fill(self, stats: GenerationStats, t0: float, end: float) -> None:
        """Client-side measurements, completed with what the server reported (usage, timings). A figure of the
        wrong type or sign (`"prompt_n": "x"`) counts as not reported: the answer stays as it came."""
        tm, ol, usage = self.timings, self.ollama, self.usage
        stats.total_s = end - t0
        stats.ttft_s = (self.t_first - t0) if self.t_first else stats.total_s
        gen = _num(usage, "completion_tokens") or _num(tm, "predicted_n") or _num(ol, "eval_count") or self.n_chunks
        stats.gen_tokens = int(gen)
        span = self.t_last - self.t_first
        if self.n_chunks > 1 and span > 0:  # the tokens after the first chunk, over the time they took
            stats.gen_tps = stats.gen_tokens * (self.n_chunks - 1) / self.n_chunks / span
        timings: dict[str, Any] = {}
        prompt_total = 0
        if tm:
            timings = {"server": "llama-server", **tm}
            stats.prompt_eval_tokens = int(_num(tm, "prompt_n"))
            ms = _num(tm, "prompt_ms")
            stats.prompt_tps = _num(tm, "prompt_per_second") or (stats.prompt_eval_tokens / (ms / 1000) if ms else 0.0)
            if _num(tm, "predicted_per_second"):
                timings["eval_tps"] = _num(tm, "predicted_per_second")
            prompt_total = stats.prompt_eval_tokens + int(_num(tm, "cache_n"))
        elif ol:
            timings = {"server": "ollama", **ol}
            stats.prompt_eval_tokens = prompt_total = int(_num(ol, "prompt_eval_count"))
            ns = _num(ol, "prompt_eval_duration")
            stats.prompt_tps = stats.prompt_eval_tokens / (ns / 1e9) if ns else 0.0
            if _num(ol, "eval_duration"):
                timings["eval_tps"] = _num(ol, "eval_count") / (_num(ol, "eval_duration") / 1e9)
        if usage:
            timings["usage"] = usage
        stats.prompt_tokens = int(_num(usage, "prompt_tokens") or prompt_total)
        if not tm and not ol:  # a server that says nothing of a cache: every prompt token counts as read
            stats.prompt_eval_tokens = stats.prompt_tokens
        stats.engine_timings = timings
        if not self.n_chunks and stats.stop_reason is StopReason.EOS:
            stats.note = "The server ended its answer at once, without any text."


def _num(fields: dict[str, Any], key: str) -> float:
    """A figure the server reported: a finite number, zero or more; anything else (text, a bool, NaN) is 0."""
    value = fields.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return 0.0
    return float(value)
