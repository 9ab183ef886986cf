"""The memory plan of a comparison: do both models fit in RAM (and VRAM) together, from the fit estimate."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from edgetui.core.compare.records import MemoryPlan
from edgetui.core.gguf.read import GGUFError, read_model
from edgetui.core.models.fit import FITS, Resources, estimate_fit, probe_resources, verdict_for
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import LoadOptions
from edgetui.core.units import format_bytes

MIB = 1 << 20


def _need(ref: ModelRef, options: LoadOptions, resources: Resources, quality: bool) -> tuple[int, int, str]:
    """(RAM bytes, VRAM bytes, method) one model needs at options.n_ctx; a remote model needs none here."""
    if ref.is_remote:
        return 0, 0, "remote endpoint"
    path = ref.path
    try:
        header = read_model(path)
        est = estimate_fit(header, options.n_ctx, options.n_gpu_layers, resources,
                           n_ubatch=min(options.n_batch, options.n_ctx))  # fmt: skip
        ram, vram, vocab, method = est.ram_needed, est.vram_needed, header.vocab_size, "fit estimate"
    except (GGUFError, OSError, ValueError):  # a header the reader refuses: the file size and a margin
        size = path.stat().st_size if path.is_file() else 0
        ram, vram, vocab, method = int(size * 1.1) + 64 * MIB, 0, 0, "file size + 10%"
    if quality:  # llama.cpp's output buffer for a full batch, and the numpy copies of half a chunk's logits
        ram += vocab * 4 * (min(options.n_batch, options.n_ctx) + 4 * (options.n_ctx // 2))
    return ram, vram, method


def plan_memory(path_a: ModelRef | str | Path, path_b: ModelRef | str | Path, options: LoadOptions,
                available_bytes: int | None = None, quality: bool = False) -> MemoryPlan:  # fmt: skip
    """Do both models fit together (with fit.TIGHT_MARGIN headroom)? `available_bytes` overrides free RAM; a
    remote model (`ModelRef.parse`) needs no memory here."""
    res = probe_resources()
    if available_bytes is not None:
        res = replace(res, ram_available=int(available_bytes), ram_total=max(int(available_bytes), res.ram_total))
    ra, va, method = _need(ModelRef.parse(path_a), options, res, quality)
    rb, vb, method_b = _need(ModelRef.parse(path_b), options, res, quality)
    if method == "remote endpoint":
        method = method_b
    both = verdict_for(ra + rb, res.ram_available) == FITS
    if va + vb:
        both = both and verdict_for(va + vb, res.vram_free) == FITS
    reason = ""
    if not both:
        reason = (f"not enough memory for both: A needs {format_bytes(ra)} and B {format_bytes(rb)}, "
                  f"{format_bytes(res.ram_available)} free")  # fmt: skip
    return MemoryPlan(both, ra, rb, res.ram_available, va, vb, res.vram_free, method, reason)
