"""Make another quantization of a GGUF model with llama.cpp's own quantizer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgetui.core.types import EngineError

# llama.cpp's llama_ftype values (include/llama.h), by their usual names.
FTYPES: dict[str, int] = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
    "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
    "IQ2_XXS": 19, "IQ2_XS": 20, "Q2_K_S": 21, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ4_NL": 25,
    "IQ3_S": 26, "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ4_XS": 30, "IQ1_M": 31, "BF16": 32,
    "TQ1_0": 36, "TQ2_0": 37, "MXFP4_MOE": 38,
}
FTYPE_NAMES: dict[int, str] = {v: k for k, v in FTYPES.items()}

# The types offered in the UI: those that need no importance matrix.
OFFERED = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q3_K_S", "Q2_K", "F16")


def ftype_name(value: Any) -> str:
    """llama.cpp's `general.file_type` number as the usual quantization name ('' when unknown)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return ""
    return FTYPE_NAMES.get(n, f"type {n}")


def output_name(src: Path, qtype: str) -> Path:
    """`SmolLM2-135M-Instruct.Q4_1.gguf` + Q8_0 -> `SmolLM2-135M-Instruct.Q8_0.gguf` beside it."""
    stem = src.stem
    for name in sorted(FTYPES, key=len, reverse=True):
        for sep in (".", "-", "_"):
            suffix = f"{sep}{name}"
            if stem.upper().endswith(suffix.upper()):
                return src.with_name(f"{stem[: -len(suffix)]}{sep}{qtype}.gguf")
    return src.with_name(f"{stem}.{qtype}.gguf")


def quantize_model(src: str | Path, dst: str | Path, qtype: str, n_threads: int = 0) -> Path:
    """Quantize `src` into `dst` (requantizing an already quantized file is allowed)."""
    import llama_cpp

    src, dst = Path(src), Path(dst)
    qtype = qtype.upper()
    if qtype not in FTYPES:
        raise EngineError(f"Unknown quantization type {qtype!r}; try one of {', '.join(OFFERED)}")
    if not src.is_file():
        raise EngineError(f"Model file not found: {src}")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[qtype]
    params.nthread = n_threads
    params.allow_requantize = True
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), params)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise EngineError(f"llama.cpp could not quantize {src.name} to {qtype} (code {rc})")
    tmp.replace(dst)
    return dst
