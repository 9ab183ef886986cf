"""Make another quantization of a GGUF model with llama.cpp's own quantizer (in a child process)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgetui.core.gguf.files import FTYPES, check_gguf_file
from edgetui.core.gguf.read import GGUFError, read_tensors
from edgetui.core.types import EngineError
from edgetui.core.units import format_bytes

ProgressFn = Callable[[int, int], None]  # (bytes of the output so far, predicted bytes of the output)

# The types offered in the UI: those that need no importance matrix.
OFFERED = ("Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "Q4_0", "Q3_K_M", "Q3_K_S", "Q2_K", "F16")


def output_name(src: Path, qtype: str) -> Path:
    """`SmolLM2-135M-Instruct.Q4_1.gguf` + Q8_0 -> `SmolLM2-135M-Instruct.Q8_0.gguf` beside it."""
    stem = src.stem
    for name in sorted(FTYPES, key=len, reverse=True):
        for sep in (".", "-", "_"):
            suffix = f"{sep}{name}"
            if stem.upper().endswith(suffix.upper()):
                return src.with_name(f"{stem[: -len(suffix)]}{sep}{qtype}.gguf")
    return src.with_name(f"{stem}.{qtype}.gguf")


class QuantizeCancelled(EngineError):
    """The quantization was cancelled; its partial output was removed."""


def _check_args(src: Path, qtype: str) -> None:
    if qtype not in FTYPES:
        raise EngineError(f"Unknown quantization type {qtype!r}; try one of {', '.join(OFFERED)}")
    check_gguf_file(src)  # (not found, not a regular file, not a GGUF file: each said as it is)


def _llama_quantize(src: Path, dst: Path, qtype: str, n_threads: int) -> int:
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[qtype]
    params.nthread = n_threads
    params.allow_requantize = True
    return int(llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params))


def quantize_model(src: str | Path, dst: str | Path, qtype: str, n_threads: int = 0) -> Path:
    """Quantize `src` into `dst` in this process (requantizing an already quantized file is allowed)."""
    src, dst = Path(src), Path(dst)
    qtype = qtype.upper()
    _check_args(src, qtype)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    rc = _llama_quantize(src, tmp, qtype, n_threads)
    if rc != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        raise EngineError(f"llama.cpp could not quantize {src.name} to {qtype} (code {rc})")
    tmp.replace(dst)
    return dst


# -- output size prediction ---------------------------------------------------------------------------
# Average bits per weight of the 2-D weights for each target (the K presets mix types across tensors).
_BPW: dict[str, float] = {
    "F32": 32, "F16": 16, "BF16": 16, "Q4_0": 4.5, "Q4_1": 5.0, "Q5_0": 5.5, "Q5_1": 6.0, "Q8_0": 8.5,
    "Q2_K": 3.0, "Q2_K_S": 2.8, "Q3_K_S": 3.44, "Q3_K_M": 3.9, "Q3_K_L": 4.3, "Q4_K_S": 4.6, "Q4_K_M": 4.85,
    "Q5_K_S": 5.55, "Q5_K_M": 5.7, "Q6_K": 6.5625, "IQ1_S": 1.6, "IQ1_M": 1.8, "IQ2_XXS": 2.1, "IQ2_XS": 2.35,
    "IQ2_S": 2.6, "IQ2_M": 2.75, "IQ3_XXS": 3.1, "IQ3_XS": 3.3, "IQ3_S": 3.45, "IQ3_M": 3.7, "IQ4_NL": 4.5,
    "IQ4_XS": 4.25, "TQ1_0": 1.69, "TQ2_0": 2.06, "MXFP4_MOE": 4.25,
}  # fmt: skip
_UNQUANTIZED = ("F32", "F16", "BF16")


# -- requantizing --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requantize:
    """What quantizing a file of one type to another can give (requantize_check)."""

    quantized: bool  # the source is already quantized: a known type, not F32, F16 or BF16
    bigger: bool  # and the target has more bits per weight: a bigger file of the source's quality
    note: str  # one line for the user; "" when the source is not quantized (or its type is unknown)


def _bits(qtype: str) -> float | None:
    """Bits per weight of a type name: the table, else the digit of a ggml tensor type ('Q4_K' -> 4.5)."""
    if qtype in _BPW:
        return _BPW[qtype]
    m = re.match(r"(?:I|T)?Q(\d)", qtype)
    return int(m.group(1)) + 0.5 if m else None


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "AEFHILMNORSX" else f"a {word}"


def requantize_check(name: str, source: str, target: str) -> Requantize:
    """Whether `target` made from the file `name` of type `source` is a requantization, and what that costs.

    Quantizing drops precision for good: a Q8_0 made from a Q4_1 file is as good as the Q4_1, only bigger.
    `source` is the file's type as the catalog names it (`general.file_type`), `target` the type to make; an
    unknown target gets no note (quantizing refuses it anyway)."""
    src, dst = source.strip().upper(), target.strip().upper()
    src_bits, dst_bits = _bits(src), _bits(dst)
    if src in _UNQUANTIZED or src_bits is None or dst not in FTYPES:
        return Requantize(src not in _UNQUANTIZED and src_bits is not None, False, "")
    head = f"{name} is already quantized ({src}): "
    if dst in _UNQUANTIZED:
        note = (f"{_a(dst)} made from it is no better than {src}, only bigger; what {src} dropped cannot come "
                f"back, use the original F16/BF16/F32 file instead.")  # fmt: skip
        return Requantize(True, True, head + note)
    if dst_bits is not None and dst_bits > src_bits:
        note = (f"{_a(dst)} made from it is no better than {src}, only bigger; quantize from an F16/F32 file "
                f"for real {dst} quality.")  # fmt: skip
        return Requantize(True, True, head + note)
    if dst == src:
        return Requantize(True, False, head + f"{_a(dst)} made from it is at best the same file again.")
    note = (f"{_a(dst)} made from it is rounded twice, so it is worse than {_a(dst)} made from an F16/F32 "
            f"file; quantize from one of those for the best {dst}.")  # fmt: skip
    return Requantize(True, False, head + note)


def _block256(qtype: str) -> bool:
    return "_K" in qtype or (qtype.startswith(("IQ", "TQ")) and qtype != "IQ4_NL")


def _fallback_bpw(qtype: str) -> float:
    """llama.cpp's type for a tensor whose rows are not a multiple of 256 (types with 256-weight blocks)."""
    if qtype.startswith(("Q4_K", "Q5_K", "Q6_K")):
        return {"Q4": 5.5, "Q5": 6.0, "Q6": 8.5}[qtype[:2]]
    if _block256(qtype):
        return 4.5
    return _BPW.get(qtype, 8.5)


def predict_size(src: str | Path, qtype: str) -> int:
    """Roughly the size of `src` quantized to `qtype` (tensor shapes × bits per weight of the target).

    An unreadable or broken file predicts its own size (the quantizer then says what is wrong with it)."""
    qtype = qtype.upper()
    try:
        header, tensors = read_tensors(src)
    except (OSError, GGUFError):
        return max(1, Path(src).stat().st_size if Path(src).is_file() else 1)
    has_output = any(t.name == "output.weight" for t in tensors)
    total = header.data_offset
    for t in tensors:
        if len(t.dims) < 2 or qtype not in _BPW:
            total += t.padded_nbytes(header.alignment)
            continue
        bpw = _BPW[qtype]
        if qtype not in _UNQUANTIZED:
            if t.name == "output.weight" or (not has_output and t.name == "token_embd.weight"):
                bpw = 8.5 if qtype == "Q8_0" or t.dims[0] % 256 else 6.5625
            elif _block256(qtype) and t.dims[0] % 256:
                bpw = _fallback_bpw(qtype)
        total += int(t.n_elements * bpw / 8) + 31
    return total


# -- quantizing in a child process ----------------------------------------------------------------------
def default_output(src: str | Path, qtype: str, models_dir: str | Path | None = None) -> Path:
    """Beside the source (output_name), or in the models dir when the source's folder is not writable
    or belongs to an installed package (the bundled default model)."""
    src = Path(src)
    out = output_name(src, qtype.upper())
    packaged = any(p in ("site-packages", "dist-packages") for p in src.parent.resolve().parts)
    if os.access(src.parent, os.W_OK) and not packaged:
        return out
    if models_dir is None:
        from edgetui.paths import Paths

        models_dir = Paths.from_env().models_dir
    return Path(models_dir) / out.name


def quantize_with_progress(
    src: str | Path,
    dst: str | Path | None,
    qtype: str,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    n_threads: int = 0,
    models_dir: str | Path | None = None,
) -> Path:
    """Quantize `src` to `qtype` in a child process and return the new file.

    `dst` None means `default_output`. Progress is (bytes written, predicted bytes), about every 0.2 s;
    the prediction is rough, so the reported total grows when the output outgrows it. Setting `cancel`
    kills the child and removes the partial `.part` file (QuantizeCancelled); a crash of the quantizer
    becomes an EngineError, never a crash of the caller.
    """
    src = Path(src).expanduser()
    qtype = qtype.upper()
    _check_args(src, qtype)
    check_gguf_file(src)
    dst = Path(dst).expanduser() if dst else default_output(src, qtype, models_dir)
    if dst.resolve() == src.resolve():
        raise EngineError(f"{src.name} is already {qtype}: the output would overwrite it")
    cancel = cancel or threading.Event()
    predicted = predict_size(src, qtype)
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(dst.parent).free
    except OSError as exc:
        raise EngineError(f"Cannot write to {dst.parent}: {exc.strerror or exc}") from exc
    if free < predicted * 1.1:
        raise EngineError(
            f"Not enough disk space in {dst.parent}: about {format_bytes(predicted)} needed, {format_bytes(free)} free"
        )
    tmp = dst.with_name(dst.name + ".part")
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    cmd = _child_command(src, tmp, qtype, n_threads)
    done = False
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            while True:
                try:
                    rc = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if cancel.is_set():
                    raise QuantizeCancelled(f"Quantizing {src.name} to {qtype} was cancelled")
                if progress is not None:
                    size = tmp.stat().st_size if tmp.exists() else 0
                    progress(size, max(predicted, int(size / 0.99)))
            if rc != 0 or not tmp.is_file():
                log.seek(0)
                raise EngineError(_failure(src, qtype, rc, log.read().decode("utf-8", "replace")))
            tmp.replace(dst)
            done = True
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if not done:
                tmp.unlink(missing_ok=True)
    if progress is not None:
        size = dst.stat().st_size
        progress(size, size)
    return dst


def _failure(src: Path, qtype: str, rc: int, log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    reason = next(
        (
            line.split(": ", 1)[-1]
            for line in reversed(lines)
            if any(w in line.lower() for w in ("failed", "error", "exception", "invalid"))
        ),
        "",
    )
    what = f"the quantizer crashed (signal {-rc})" if rc < 0 else f"llama.cpp could not quantize {src.name}"
    return f"{what}: {reason}" if reason else f"{what} (exit code {rc})"


def _child_command(src: Path, tmp: Path, qtype: str, n_threads: int) -> list[str]:
    return [sys.executable, "-m", "edgetui.core.tools.quantize", str(src), str(tmp), qtype, str(n_threads)]


def _child_main(argv: list[str]) -> int:
    """`python -m edgetui.core.tools.quantize SRC TMP QTYPE N_THREADS`: the child process's side."""
    src, tmp, qtype, n_threads = argv
    try:
        rc = _llama_quantize(Path(src), Path(tmp), qtype, int(n_threads))
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0 if rc == 0 else 3


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
