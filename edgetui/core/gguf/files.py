"""A GGUF file's vocabulary and first checks: llama.cpp's file types by name, and whether a path can be a model."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from edgetui.core.types import EngineError

GGUF_MAGIC = b"GGUF"

# llama.cpp's llama_ftype values (include/llama.h), by their usual names.
FTYPES: dict[str, int] = {
    "F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
    "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17, "Q6_K": 18,
    "IQ2_XXS": 19, "IQ2_XS": 20, "Q2_K_S": 21, "IQ3_XS": 22, "IQ3_XXS": 23, "IQ1_S": 24, "IQ4_NL": 25,
    "IQ3_S": 26, "IQ3_M": 27, "IQ2_S": 28, "IQ2_M": 29, "IQ4_XS": 30, "IQ1_M": 31, "BF16": 32,
    "TQ1_0": 36, "TQ2_0": 37, "MXFP4_MOE": 38,
}  # fmt: skip
FTYPE_NAMES: dict[int, str] = {v: k for k, v in FTYPES.items()}


def ftype_name(value: Any) -> str:
    """llama.cpp's `general.file_type` number as the usual quantization name ('' when unknown)."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return ""
    return FTYPE_NAMES.get(n, f"type {n}")


def check_gguf_file(path: Path) -> None:
    """Raise EngineError with a user-facing reason when `path` cannot be a GGUF model; anything but a regular file
    (a FIFO, a device, a socket) is refused before it is opened, which could block for ever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise EngineError(f"Model file not found: {path}") from None
    except OSError as exc:
        raise EngineError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(mode):
        raise EngineError(f"{path} is a directory, not a GGUF file")
    if not stat.S_ISREG(mode):
        raise EngineError(f"{path} is not a regular file ({_file_kind(mode)}), so it cannot be a GGUF model")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except PermissionError as exc:
        raise EngineError(f"Cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise EngineError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    if not head:
        raise EngineError(f"{path.name} is empty (0 bytes): not a GGUF model")
    if head[:4] != GGUF_MAGIC:
        raise EngineError(f"{path.name} is not a GGUF file (it does not start with 'GGUF')")
    if len(head) < 8:
        raise EngineError(f"{path.name} is truncated: the GGUF header is incomplete")


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):  # fmt: skip
        if test(mode):
            return kind
    return "not a file"
