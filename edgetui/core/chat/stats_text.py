"""How an answer's figures read: the one line under it, the same while it is live and when it is opened again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from edgetui.core.types import GenerationStats, StopReason

# how a saved answer's status is said before its figures (a complete one says nothing)
STATUS_LABEL = {"stopped": "stopped", "error": "error", "interrupted": "interrupted (edgetui was killed mid-answer)"}


def prompt_part(stats: GenerationStats) -> str:
    """'prompt 436 tok: 419 cached, 17 read @ 120 tok/s': the prompt, what of it came from the KV cache and how fast
    the rest was read (a regenerated answer reads nothing: 'all cached')."""
    total, read = stats.prompt_tokens, stats.prompt_eval_tokens
    speed = f" @ {stats.prompt_tps:.0f} tok/s" if read and stats.prompt_tps > 0 else ""
    if total and not read:
        return f"prompt {total} tok: all cached"
    if 0 < read < total:
        return f"prompt {total} tok: {total - read} cached, {read} read{speed}"
    return f"prompt {total} tok{speed}"


def stats_line(stats: GenerationStats) -> str:
    """'12 tok · 85.3 tok/s · TTFT 310 ms · prompt 40 tok @ 900 tok/s' (and 'max tokens' when it was cut there)."""
    parts = [f"{stats.gen_tokens} tok", f"{stats.gen_tps:.1f} tok/s", f"TTFT {stats.ttft_s * 1000:.0f} ms"]
    parts.append(prompt_part(stats))
    if stats.stop_reason is StopReason.LENGTH:
        parts.append("max tokens")
    return " · ".join(parts)


def answer_footer(stats: GenerationStats, status: str = "") -> tuple[str, bool]:
    """The line under an answer and whether it is a warning: its figures, after what stopped it (said once)."""
    if stats.stop_reason is StopReason.ERROR or status == "error":
        return f"error: {stats.error}" if stats.error else "error", True
    if stats.note and not stats.gen_tokens:
        return stats.note, True
    line = stats_line(stats)
    label = "stopped" if stats.stop_reason is StopReason.CANCELLED else STATUS_LABEL.get(status, "")
    if stats.note:
        line = f"{stats.note} · {line}"
    return (f"{label} · {line}", True) if label else (line, bool(stats.note))


def stats_from_record(run: Mapping[str, Any]) -> GenerationStats:
    """The figures of a saved answer, from its runs row."""

    def number(key: str, kind: type) -> Any:
        value = run.get(key)
        return kind(value) if isinstance(value, int | float) else kind()

    try:
        reason = StopReason(run.get("stop_reason") or "eos")
    except ValueError:
        reason = StopReason.EOS
    prompt = number("prompt_tokens", int)
    read = prompt if run.get("prompt_eval_tokens") is None else number("prompt_eval_tokens", int)  # (not recorded)
    return GenerationStats(
        stop_reason=reason,
        ttft_s=number("ttft_s", float),
        prompt_tokens=prompt,
        prompt_eval_tokens=read,
        prompt_tps=number("prompt_tps", float),
        gen_tokens=number("gen_tokens", int),
        gen_tps=number("gen_tps", float),
        total_s=number("total_s", float),
        error=run.get("error") or None,
    )
