"""Quantizing with llama.cpp in a child process: real outputs of the default model, progress, cancel, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest

from edgetui.core.tools import quantize as q
from edgetui.core.tools.quantize import (
    QuantizeCancelled,
    default_output,
    output_name,
    predict_size,
    quantize_with_progress,
)
from edgetui.core.types import EngineError


@pytest.fixture
def source(default_model: Path, tmp_path: Path) -> Path:
    """The default model in a writable folder of its own (outputs go beside it)."""
    dst = tmp_path / "models" / default_model.name
    dst.parent.mkdir()
    try:
        dst.symlink_to(default_model)
    except OSError:
        shutil.copy(default_model, dst)
    return dst


@pytest.mark.engine
@pytest.mark.parametrize("qtype", ["Q8_0", "Q2_K"])
def test_quantize_with_progress_makes_a_loadable_model(source: Path, qtype: str) -> None:
    seen: list[tuple[int, int]] = []
    out = quantize_with_progress(source, None, qtype, progress=lambda d, t: seen.append((d, t)), n_threads=2)
    assert out == output_name(source, qtype) == source.with_name(f"SmolLM2-135M-Instruct.{qtype}.gguf")
    assert not out.with_name(out.name + ".part").exists()
    size, src_size = out.stat().st_size, source.stat().st_size
    if qtype == "Q8_0":
        assert size > src_size * 1.3  # 8.5 bits per weight against the source's Q4_1 (5 bits)
    else:
        assert size < src_size
    assert seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert all(d <= t for d, t in seen)
    assert abs(predict_size(source, qtype) - size) / size < 0.15

    from edgetui.core.engines.llama import LlamaEngine
    from edgetui.core.types import ChatMessage, LoadOptions, SamplerSettings

    engine = LlamaEngine()
    try:
        info = engine.load(out, LoadOptions(n_ctx=512, n_threads=2))
        assert info.quant == qtype
        text = engine.stream_chat([ChatMessage("user", "Say hi.")], SamplerSettings.greedy(max_tokens=8)).run()
        assert text.strip()
    finally:
        engine.unload()


@pytest.mark.engine
def test_cancel_kills_the_quantizer_and_removes_the_partial_file(source: Path, tmp_path: Path) -> None:
    cancel = threading.Event()
    dst = tmp_path / "out" / "cancelled.Q2_K.gguf"

    def on_progress(done: int, total: int) -> None:
        if done > 0:
            cancel.set()

    with pytest.raises(QuantizeCancelled, match="cancelled"):
        quantize_with_progress(source, dst, "Q2_K", on_progress, cancel, n_threads=2)
    assert cancel.is_set()
    assert not dst.exists()
    assert list(dst.parent.iterdir()) == []


@pytest.mark.engine
def test_a_crashing_quantizer_is_an_error_not_a_crash(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crashing(src: Path, tmp: Path, qtype: str, n_threads: int) -> list[str]:
        code = f"open({str(tmp)!r}, 'wb').write(b'GGUF'); import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
        return [sys.executable, "-c", code]

    monkeypatch.setattr(q, "_child_command", crashing)
    dst = tmp_path / "crash.Q8_0.gguf"
    with pytest.raises(EngineError, match=r"the quantizer crashed \(signal 11\)"):
        quantize_with_progress(source, dst, "Q8_0")
    assert not dst.exists() and not dst.with_name(dst.name + ".part").exists()


@pytest.mark.parametrize(("args", "message"), [
    (("missing.gguf", "Q8_0"), "Model file not found"),
    (("SRC", "Q9_9"), "Unknown quantization type 'Q9_9'; try one of Q8_0"),
    (("SRC", "q4_1"), "is already Q4_1: the output would overwrite it"),
    (("TEXT", "Q8_0"), "is not a GGUF file"),
    (("EMPTY_GGUF", "Q8_0"), "llama.cpp could not quantize"),
])  # fmt: skip
@pytest.mark.engine
def test_bad_input_is_an_engine_error(source: Path, tmp_path: Path, args: tuple[str, str], message: str) -> None:
    (tmp_path / "notes.gguf").write_text("hello")
    (tmp_path / "empty.gguf").write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(16))
    src = {"SRC": source, "TEXT": tmp_path / "notes.gguf", "EMPTY_GGUF": tmp_path / "empty.gguf"}.get(
        args[0], tmp_path / args[0]
    )
    with pytest.raises(EngineError, match=message):
        quantize_with_progress(src, None, args[1])


@pytest.mark.engine
def test_default_output_goes_to_the_models_dir_when_beside_is_not_possible(
    source: Path, default_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "my-models"
    assert default_output(source, "q8_0", models) == source.with_name("SmolLM2-135M-Instruct.Q8_0.gguf")
    # the bundled model lives in site-packages: never write beside it
    assert default_output(default_model, "Q8_0", models) == models / "SmolLM2-135M-Instruct.Q8_0.gguf"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert default_output(source, "Q2_K", models) == models / "SmolLM2-135M-Instruct.Q2_K.gguf"
    home_models = Path(os.environ["EDGETUI_HOME"]) / "models"
    assert default_output(source, "Q2_K") == home_models / "SmolLM2-135M-Instruct.Q2_K.gguf"


@pytest.mark.engine
def test_predict_size_adds_up_the_tensors_of_the_header(default_model: Path) -> None:
    from edgetui.core.gguf.read import read_tensors

    header, tensors = read_tensors(default_model)
    # an unknown target keeps every tensor as it is: the source's own size, padding included
    assert predict_size(default_model, "NOT_A_TYPE") == default_model.stat().st_size
    weights = sum(t.n_elements for t in tensors if len(t.dims) >= 2)
    assert predict_size(default_model, "F32") > header.data_offset + weights * 4
    sizes = [predict_size(default_model, qtype) for qtype in ("Q2_K", "Q4_K_M", "Q8_0", "F16")]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize(
    "data",
    [b"hello", b"GGUF", b"GGUF\x03\x00\x00\x00" + bytes(16), b"GGUF\x03\x00\x00\x00" + b"\xff" * 16, b"GGUF" * 1000],
)
def test_predict_size_of_a_broken_file_is_its_own_size(tmp_path: Path, data: bytes) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data)
    assert predict_size(bad, "Q8_0") == len(data)
    assert predict_size(tmp_path / "missing.gguf", "Q8_0") == 1


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_predict_size_never_opens_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(predict_size(fifo, "Q8_0")), daemon=True)
    worker.start()
    worker.join(30)
    if not result:  # it blocked in open(): unblock it, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert result == [1]


@pytest.mark.engine
def test_cli_quantize(default_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edgetui.cli import main

    out = tmp_path / "cli.Q8_0.gguf"
    assert main(["quantize", "default", "Q8_0", "-o", str(out), "--threads", "2", "--json"]) == 0
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["output"] == str(out) and result["ratio"] > 1.3
    assert out.stat().st_size == result["output_bytes"]
    # the bundled file is Q4_1: said once, on stderr, and the quantization still ran
    warning = (
        "warning: SmolLM2-135M-Instruct.Q4_1.gguf is already quantized (Q4_1): a Q8_0 made from it is no better "
        "than Q4_1, only bigger; quantize from an F16/F32 file for real Q8_0 quality.\n"
    )
    assert captured.err.startswith(warning) and captured.err.count("already quantized") == 1

    # fewer bits than the source (now the Q8_0): a note, not a warning; the sizes in IEC units
    q2 = tmp_path / "cli.Q2_K.gguf"
    assert main(["quantize", str(out), "Q2_K", "-o", str(q2), "--threads", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("note: cli.Q8_0.gguf is already quantized (Q8_0): a Q2_K made from it is rounded")
    assert re.fullmatch(rf"{re.escape(str(q2))}  [\d.]+ MiB \(\d+% of cli.Q8_0.gguf, [\d.]+ MiB\)\n", captured.out)

    assert main(["quantize", "default", "Q8_0", "-o", str(out)]) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert main(["quantize", str(tmp_path / "nope.gguf"), "Q8_0"]) == 1
    assert "edgetui: Model file not found" in capsys.readouterr().err
    assert main(["quantize", "default", "Q1_X", "-o", str(tmp_path / "x.gguf")]) == 1
    assert "Unknown quantization type 'Q1_X'" in capsys.readouterr().err
