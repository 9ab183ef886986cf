"""Replay: a saved comparison session's records turned back into turns to show and conversations to continue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgetui.core.compare.compare import SIDES
from edgetui.core.types import ChatMessage


@dataclass
class Replay:
    """A saved comparison session, ready to show and to continue."""

    turns: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)  # prompt, answers, footers
    histories: dict[str, list[ChatMessage]] = field(default_factory=lambda: {s: [] for s in SIDES})
    complete_turns: int = 0  # turns whose answers both ended well: the ones `histories` holds
    paths: dict[str, str] = field(default_factory=dict)  # side -> the model file of its first saved turn
    last: Mapping[str, Any] | None = None  # the last turn's result dict
    quality: Mapping[str, Any] | None = None  # the last quality report dict


def replay(rows: Sequence[Mapping[str, Any]]) -> Replay:
    """Rows of Store.list_comparisons (oldest first) as turns to show and the conversations to continue.

    A row that is neither a turn of both sides nor a quality report (another version's, or damaged) is left out;
    a turn that was cancelled or failed on a side is shown but not continued."""
    out = Replay()
    for row in rows:
        res = row.get("result") or {}
        if not isinstance(res, Mapping):
            continue
        if "ppl_a" in res:
            out.quality = res
            continue
        if not all(isinstance(res.get(s), Mapping) for s in SIDES):
            continue
        for side, key in (("a", "model_a"), ("b", "model_b")):
            out.paths.setdefault(side, str(row.get(key) or ""))
        answers = {s: str(res[s].get("answer", "")) for s in SIDES}
        stats = {s: _mapping(res[s].get("stats")) for s in SIDES}
        footers = {s: saved_footer(stats[s]) for s in SIDES}
        out.turns.append((str(row.get("prompt", "")), answers, footers))
        out.last = res
        added = _messages(res.get("messages"))
        if not res.get("cancelled") and not any(stats[s].get("error") for s in SIDES) and added is not None:
            for s in SIDES:
                out.histories[s] += [*added, ChatMessage("assistant", answers[s])]
            out.complete_turns += 1
    return out


def saved_footer(stats: Mapping[str, Any]) -> str:
    """The footer of a replayed answer: 'saved · 42 tok · 31.4 tok/s'."""
    try:
        tps = float(stats.get("gen_tps") or 0)
    except (TypeError, ValueError):
        tps = 0.0
    return f"saved · {stats.get('gen_tokens', 0)} tok · {tps:.1f} tok/s"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _messages(value: Any) -> list[ChatMessage] | None:
    """The messages a turn added, or None when they are not a list of role/content records."""
    if not value:
        return []
    if not isinstance(value, list):
        return None
    out = []
    for m in value:
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            return None
        out.append(ChatMessage(m["role"], m["content"]))
    return out
