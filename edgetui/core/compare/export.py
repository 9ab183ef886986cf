"""Export stored comparisons (rows of `Store.list_comparisons`) as Markdown or JSON, and the shared wording."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from edgetui.core.store.store import Store, StoreError
from edgetui.core.units import format_bytes

EXPORT_FORMAT = "edgetui-comparison"
EXPORT_VERSION = 1
FORMATS = ("md", "json")
BYTES = "bytes"  # the format of a size: format_bytes

# (CompareResult.deltas key, label, scale, format): the speed table, in the UI and in the Markdown export.
SPEED_ROWS: tuple[tuple[str, str, float, str], ...] = (
    ("file_size_bytes", "File size", 1, BYTES),
    ("bits_per_weight", "Bits per weight", 1, "{:.2f}"),
    ("load_s", "Load (s)", 1, "{:.2f}"),
    ("rss_delta_bytes", "RSS increase", 1, BYTES),
    ("ttft_s", "First token (s)", 1, "{:.3f}"),
    ("prompt_tps", "Prompt tok/s", 1, "{:,.1f}"),
    ("gen_tps", "Generation tok/s", 1, "{:,.1f}"),
    ("gen_tokens", "Tokens generated", 1, "{:,.0f}"),
)


def speed_cells(delta: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    """(A, B, B vs A) of one `deltas` entry, formatted; B vs A is a ratio, or a difference for token counts."""
    scale, fmt = next((s, f) for k, _, s, f in SPEED_ROWS if k == key)

    def one(value: Any) -> str:
        try:
            return format_bytes(float(value)) if fmt == BYTES else fmt.format(float(value) * scale)
        except (TypeError, ValueError):
            return "–"

    a, b = one(delta.get("a")), one(delta.get("b"))
    if key == "gen_tokens":
        diff = delta.get("diff")
        versus = f"{diff:+,.0f}" if isinstance(diff, int | float) else "–"
    else:
        ratio = delta.get("ratio")
        versus = f"{ratio:.2f}×" if isinstance(ratio, int | float) else "–"
    return a, b, versus


def agreement_summary(agreement: Mapping[str, Any] | None) -> str:
    """'identical tokens: 87%  first divergence at token 14' (or why there is no figure)."""
    if not agreement:
        return "token agreement: not measured"
    share = f"identical tokens: {float(agreement.get('identical_share', 0)):.0%}"
    first = agreement.get("first_divergence")
    where = "identical answers" if first is None else f"first divergence at token {first}"
    text = f"{share}  {where}"
    if not agreement.get("greedy", True):
        text += "  (sampled, not greedy: expect differences)"
    return text


def quality_summary(q: Mapping[str, Any]) -> list[str]:
    """The quality figures of a QualityReport dict as short lines."""
    lines = [
        f"perplexity A {q.get('ppl_a', 0):.3f} · B {q.get('ppl_b', 0):.3f} · ratio {q.get('ppl_ratio', 0):.4f}",
        f"mean KL {q.get('kl_mean', 0):.6f} ± {q.get('kl_stderr', 0):.6f}",
        f"top-1 agreement {q.get('top1_agree', 0):.2%} · RMS Δp {q.get('rms_dp', 0):.3%}",
        f"{q.get('scored', 0)} tokens scored of {q.get('text_tokens', 0)} ({q.get('mode', '')})",
    ]
    if not q.get("complete", True):
        lines.append("partial: the measurement was cancelled")
    return lines


def export_comparisons(store: Store, session_id: int, fmt: str = "md") -> str:
    """Every comparison of a store session, oldest first, as Markdown or JSON; raises StoreError."""
    if fmt not in FORMATS:
        raise StoreError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    session = store.get_session(session_id)
    if session is None:
        raise StoreError(f"There is no session {session_id}")
    rows = list(reversed(store.list_comparisons(session_id=session_id, limit=100_000)))
    return render_comparisons(rows, fmt, session=session.as_dict())


def write_export(store: Store, session_id: int, folder: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write `compare-<id>.<fmt>` files into `folder`; raises StoreError (with OSError's reason)."""
    written = []
    for fmt in formats:
        text = export_comparisons(store, session_id, fmt)
        target = Path(folder) / f"compare-{session_id}.{fmt}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"Could not write {target}: {exc.strerror or exc}") from exc
        written.append(target)
    return written


def render_comparisons(rows: Sequence[Mapping[str, Any]], fmt: str = "md",
                       session: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    """Comparison rows (oldest first) as a Markdown document or a JSON export."""
    if fmt == "json":
        doc = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "session": dict(session) if session else None,
               "comparisons": [dict(r) for r in rows]}  # fmt: skip
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt != "md":
        raise StoreError(f"Unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    title = (session or {}).get("title") or "Comparison"
    out = [f"# {title}", ""]
    if rows:
        first = rows[0]
        out += [f"- Model A: `{first.get('model_a', '')}`", f"- Model B: `{first.get('model_b', '')}`"]
        if session and session.get("created"):
            out.append(f"- Created: {session['created']}")
        out.append("")
    else:
        out += ["_(no comparisons yet)_", ""]
    for row in rows:
        out += comparison_markdown(row)
    return "\n".join(out).rstrip() + "\n"


def comparison_markdown(row: Mapping[str, Any]) -> list[str]:
    """One stored comparison: a turn (both answers, speed, agreement) or a quality measurement."""
    result = row.get("result") or {}
    when = str(row.get("created", ""))[:19].replace("T", " ")
    if "ppl_a" in result:  # a QualityReport on its own
        out = [f"## Quality of B against A · {when}", ""]
        if row.get("prompt"):
            out += [f"Text: {row['prompt']}", ""]
        return out + quality_markdown(result)
    if "a" not in result or "b" not in result:
        return [f"## Comparison · {when}", "", "```json", json.dumps(result, indent=2, default=str), "```", ""]
    heading = f"## Turn {result.get('turn', '?')} · {when}"
    if result.get("cancelled"):
        heading += " [cancelled]"
    out = [heading, ""]
    prompt = row.get("prompt") or ""
    out += [*(f"> {line}" if line else ">" for line in prompt.splitlines() or [""]), ""]
    for key in ("a", "b"):
        side = result[key]
        out += [f"### {key.upper()} · {side.get('name', '')} [{side.get('quant', '')}]", ""]
        out += [(side.get("answer") or "").rstrip() or "_(empty)_", ""]
        stats = side.get("stats") or {}
        if stats.get("note") or stats.get("error"):
            out += [f"_{stats.get('error') or stats.get('note')}_", ""]
    out += speed_markdown(result.get("deltas") or {})
    out.append("")
    sampler = result.get("sampler") or {}
    out.append(f"- Agreement: {agreement_summary(result.get('agreement'))}")
    if sampler:
        kind = "greedy" if float(sampler.get("temperature", 1)) <= 0 else f"temperature {sampler['temperature']}"
        out.append(f"- Sampler: {kind}, seed {sampler.get('seed')}, up to {sampler.get('max_tokens')} tokens")
    out.append(f"- Memory: {result.get('memory_mode', '')}")
    out += [f"- Note: {note}" for note in result.get("notes") or []]
    out.append("")
    if result.get("quality"):
        out += ["### Quality of B against A", "", *quality_markdown(result["quality"])]
    return out


def speed_markdown(deltas: Mapping[str, Any]) -> list[str]:
    lines = ["| | A | B | B vs A |", "| --- | ---: | ---: | ---: |"]
    for key, label, _, _ in SPEED_ROWS:
        if key in deltas:
            a, b, versus = speed_cells(deltas[key], key)
            lines.append(f"| {label} | {a} | {b} | {versus} |")
    return lines


def quality_markdown(q: Mapping[str, Any]) -> list[str]:
    rows = [
        ("Perplexity A", f"{q.get('ppl_a', 0):.4f}"),
        ("Perplexity B", f"{q.get('ppl_b', 0):.4f}"),
        ("PPL(B) / PPL(A)", f"{q.get('ppl_ratio', 0):.4f}"),
        ("Mean KL(A‖B)", f"{q.get('kl_mean', 0):.6f} ± {q.get('kl_stderr', 0):.6f}"),
        ("Top-1 agreement", f"{q.get('top1_agree', 0):.2%}"),
        ("RMS Δp", f"{q.get('rms_dp', 0):.3%}"),
        ("Tokens scored", f"{q.get('scored', 0)} of {q.get('text_tokens', 0)}"),
        ("Chunk size", f"{q.get('n_ctx', 0)}"),
        ("Mode", str(q.get("mode", ""))),
    ]
    lines = ["| Quality | |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows)]
    if not q.get("complete", True):
        lines.append("| Complete | no (cancelled) |")
    return [*lines, "", *(f"- Note: {n}" for n in q.get("notes") or [])]
