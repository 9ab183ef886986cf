"""The line under an answer: the prompt's cached part, what stopped it said once, the same from a saved record."""

from __future__ import annotations

from edgetui.core.chat.stats_text import answer_footer, prompt_part, stats_from_record, stats_line
from edgetui.core.store.records import run_record
from edgetui.core.types import GenerationStats, StopReason


def _stats(**kw) -> GenerationStats:
    base = dict(ttft_s=0.31, prompt_tokens=40, prompt_eval_tokens=40, prompt_tps=900.0, gen_tokens=12, gen_tps=85.3)
    return GenerationStats(**{**base, **kw})


def test_the_prompt_part_says_what_came_from_the_cache() -> None:
    assert prompt_part(_stats()) == "prompt 40 tok @ 900 tok/s"
    assert prompt_part(_stats(prompt_eval_tokens=0, prompt_tps=0.0)) == "prompt 40 tok: all cached"
    assert prompt_part(_stats(prompt_eval_tokens=3, prompt_tps=150.0)) == "prompt 40 tok: 37 cached, 3 read @ 150 tok/s"
    assert prompt_part(_stats(prompt_tps=0.0)) == "prompt 40 tok"  # a server that gives no timings
    assert "@ 0 tok/s" not in stats_line(_stats(prompt_eval_tokens=0, prompt_tps=0.0))


def test_what_stopped_an_answer_is_said_once() -> None:
    footer, warn = answer_footer(_stats(stop_reason=StopReason.CANCELLED))
    assert warn and footer.startswith("stopped · ") and footer.count("stop") == 1 and "cancelled" not in footer
    footer, warn = answer_footer(_stats(stop_reason=StopReason.LENGTH))
    assert footer.endswith("· max tokens") and not warn
    footer, warn = answer_footer(_stats(stop_reason=StopReason.ERROR, error="decode failed"))
    assert (footer, warn) == ("error: decode failed", True)
    footer, warn = answer_footer(_stats(), status="interrupted")
    assert footer.startswith("interrupted (edgetui was killed mid-answer) · ") and warn
    assert answer_footer(_stats()) == (stats_line(_stats()), False)


def test_a_saved_record_reads_as_the_live_answer_did() -> None:
    for stats in (_stats(), _stats(prompt_eval_tokens=0, prompt_tps=0.0), _stats(stop_reason=StopReason.CANCELLED)):
        record = run_record(stats)
        assert answer_footer(stats_from_record(record)) == answer_footer(stats)


def test_a_record_from_before_prompt_figures_were_kept_does_not_claim_a_cache() -> None:
    old = {"gen_tokens": 5, "gen_tps": 42.0, "ttft_s": 0.25, "prompt_tokens": 30, "stop_reason": "eos"}
    assert "cached" not in stats_line(stats_from_record(old))
    assert stats_from_record({"stop_reason": "something new"}).stop_reason is StopReason.EOS
