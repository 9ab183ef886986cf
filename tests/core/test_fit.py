"""The fit estimate: its formulas, verdicts, GPU layer choice, a real load of the default model, and the CLI."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from edgetui.cli import main
from edgetui.core.gguf.read import GGUFHeader, read_header
from edgetui.core.models import fit as fit_mod
from edgetui.core.models.fit import (
    FITS,
    GPU_OVERHEAD,
    MIB,
    NO_FIT,
    TIGHT,
    Resources,
    compare_measured,
    compute_bytes,
    estimate_fit,
    gpu_memory,
    kv_bytes_per_layer,
    n_gpu_layers_auto,
    probe_resources,
    relative_error,
    verdict_for,
)

PLENTY = Resources(ram_available=64 << 30, ram_total=64 << 30)


@pytest.fixture(scope="module")
def header(default_model: Path) -> GGUFHeader:
    return read_header(default_model)


@pytest.mark.engine
def test_kv_cache_matches_llama_cpp(header: GGUFHeader) -> None:
    # llama.cpp logs "KV buffer size = 45.00 MiB" for this model at n_ctx 2048: 2*30*2048*3*64*2 bytes.
    assert sum(kv_bytes_per_layer(header, 2048)) == 2 * 30 * 2048 * 3 * 64 * 2 == 45 * MIB
    assert sum(kv_bytes_per_layer(header, 2000)) == 45 * MIB  # padded to 256 like llama.cpp
    assert sum(kv_bytes_per_layer(header, 2048, "q8_0")) == pytest.approx(45 * MIB * 34 / 64)
    with pytest.raises(ValueError, match="unknown KV cache type"):
        kv_bytes_per_layer(header, 512, "f8")


@pytest.mark.engine
def test_compute_buffer_formula(header: GGUFHeader) -> None:
    # llama.cpp logged CPU compute buffers of 98.25, 99.38 and 166.38 MiB at n_ctx 512, 2048, 8192.
    for n_ctx, logged in ((512, 98.25), (2048, 99.38), (8192, 166.38)):
        assert compute_bytes(header, n_ctx) / MIB == pytest.approx(logged, rel=0.05)
    assert compute_bytes(header, 8192, flash_attn=True) < compute_bytes(header, 8192)


@pytest.mark.engine
def test_cpu_only_breakdown(header: GGUFHeader) -> None:
    est = estimate_fit(header, 2048, 0, PLENTY)
    assert est.weights_cpu == header.tensor_bytes and est.weights_gpu == 0 and est.vram_needed == 0
    assert est.kv_cpu == 45 * MIB and est.verdict == FITS and est.reason == ""
    b = est.breakdown()
    assert b["ram"]["total"] == est.ram_needed == sum(b["ram"][k] for k in ("weights", "kv_cache", "compute",
                                                                            "overhead"))  # fmt: skip
    assert json.dumps(est.as_dict())


def test_verdicts() -> None:
    assert verdict_for(80, 100) == FITS
    assert verdict_for(90, 100) == TIGHT
    assert verdict_for(100, 100) == TIGHT
    assert verdict_for(101, 100) == NO_FIT
    assert verdict_for(0, 0) == FITS


@pytest.mark.engine
def test_verdict_against_small_machines(header: GGUFHeader) -> None:
    need = estimate_fit(header, 2048, 0, PLENTY).ram_needed
    tight = estimate_fit(header, 2048, 0, Resources(ram_available=int(need * 1.05), ram_total=1 << 34))
    assert tight.verdict == TIGHT
    no = estimate_fit(header, 2048, 0, Resources(ram_available=need // 2, ram_total=1 << 34))
    assert no.verdict == NO_FIT and re.search(r"needs \d+\.?\d* MiB of RAM, \d+\.?\d* MiB free", no.reason)


@pytest.mark.engine
def test_gpu_split(header: GGUFHeader) -> None:
    gpu = Resources(ram_available=64 << 30, ram_total=64 << 30, vram_free=8 << 30, vram_total=8 << 30)
    full = estimate_fit(header, 2048, -1, gpu)
    assert full.n_gpu_layers == 31 and full.weights_cpu == header.embd_bytes  # embeddings stay on the CPU
    assert full.weights_gpu == sum(header.layer_bytes) + header.output_bytes
    assert full.kv_gpu == 45 * MIB and full.kv_cpu == 0 and full.overhead_gpu == GPU_OVERHEAD
    part = estimate_fit(header, 2048, 10, gpu)
    assert part.weights_gpu == sum(header.layer_bytes[20:]) and part.kv_gpu == 15 * MIB
    auto = estimate_fit(header, 2048, -2, gpu)
    assert auto.n_gpu_layers == 31 and auto.verdict == FITS
    none = estimate_fit(header, 2048, -1, PLENTY)  # asked for the GPU, there is none
    assert none.n_gpu_layers == 0 and none.vram_needed == 0 and "no usable GPU" in none.notes[0]


@pytest.mark.engine
def test_n_gpu_layers_auto(header: GGUFHeader) -> None:
    assert n_gpu_layers_auto(header, 2048, 0) == 0
    assert n_gpu_layers_auto(header, 2048, 8 << 30) == header.block_count + 1
    assert n_gpu_layers_auto(header, 2048, 100 * MIB) == 0  # not even the CUDA context fits
    counts = [n_gpu_layers_auto(header, 2048, mib * MIB) for mib in range(400, 900, 25)]
    assert counts == sorted(counts) and any(0 < n < header.block_count for n in counts)
    for n, mib in zip(counts, range(400, 900, 25), strict=True):  # what it chose fits, with the margin
        if 0 < n <= header.block_count:
            res = Resources(ram_available=64 << 30, ram_total=64 << 30, vram_free=mib * MIB)
            assert estimate_fit(header, 2048, n, res).verdict == FITS


def test_relative_error() -> None:
    assert relative_error(150, 100) == 0.5
    assert relative_error(50, 100) == -0.5
    assert relative_error(0, 0) == 0.0
    assert relative_error(1, 0) == float("inf")


def test_probe_resources_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = types.ModuleType("pynvml")

    def fail() -> None:
        raise RuntimeError("NVML Shared Library Not Found")

    broken.nvmlInit = fail  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", broken)
    assert gpu_memory() == []
    res = probe_resources()
    assert res.ram_available > 0 and res.ram_total >= res.ram_available and res.vram_free == 0


def test_probe_resources_with_a_fake_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("pynvml")
    mem = types.SimpleNamespace(free=6 << 30, total=8 << 30)
    fake.nvmlInit = lambda: None  # type: ignore[attr-defined]
    fake.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    fake.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    fake.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    fake.nvmlDeviceGetMemoryInfo = lambda h: mem  # type: ignore[attr-defined]
    fake.nvmlDeviceGetName = lambda h: b"Fake GPU"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_memory() == [("Fake GPU", 6 << 30, 8 << 30)]
    res = probe_resources(check_offload=False)
    assert res.vram_free == 6 << 30 and res.gpus == ("Fake GPU",)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert gpu_memory() == []


@pytest.mark.engine
def test_prediction_against_a_real_load(shared_engine: Any, header: GGUFHeader) -> None:
    info = shared_engine.info
    est = estimate_fit(header, info.n_ctx, 0, probe_resources())
    cmp = compare_measured(est, info.rss_delta_bytes)
    ratio = est.ram_needed / max(1, info.rss_delta_bytes)
    print(f"\nfit: n_ctx={info.n_ctx} predicted {est.ram_needed / MIB:.1f} MiB, measured RSS delta "
          f"{info.rss_delta_bytes / MIB:.1f} MiB, error {cmp['ram']['error']:+.0%}")  # fmt: skip
    assert 0.5 <= ratio <= 2.0  # loose: the compute buffer is allocated at load but touched only when used
    assert cmp["ram"]["measured"] == info.rss_delta_bytes and "vram" not in cmp


@pytest.mark.engine
def test_prediction_after_a_full_context_prompt(default_model: Path, header: GGUFHeader) -> None:
    import psutil

    from edgetui.core.engines.llama import LlamaEngine
    from edgetui.core.types import LoadOptions

    proc = psutil.Process()
    engine = LlamaEngine()
    rss0 = proc.memory_info().rss
    info = engine.load(default_model, LoadOptions(n_ctx=256, n_batch=256, n_threads=2))
    try:
        llm = engine.llama
        llm.eval(llm.tokenize(b" hello world" * 400)[: info.n_ctx - 8])
        measured = proc.memory_info().rss - rss0
    finally:
        engine.unload()
    est = estimate_fit(header, 256, 0, probe_resources(), n_ubatch=256)
    err = relative_error(est.ram_needed, measured)
    print(f"\nfit: n_ctx=256 after a {info.n_ctx - 8}-token prompt: predicted {est.ram_needed / MIB:.1f} MiB, "
          f"measured RSS growth {measured / MIB:.1f} MiB (at load {info.rss_delta_bytes / MIB:.1f}), "
          f"error {err:+.0%}")  # fmt: skip
    assert 0.5 <= est.ram_needed / measured <= 2.0


@pytest.mark.engine
def test_cli_fit_json(default_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(default_model), "--ctx", "1024", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_ctx"] == 1024 and data["n_params"] == 134_515_008 and data["quant"] == "Q4_1"
    assert data["verdict"] in (FITS, TIGHT, NO_FIT)
    assert data["breakdown"]["ram"]["kv_cache"] == 1024 * 30 * 2 * 3 * 64 * 2
    assert main(["--ctx", "512", "fit", str(default_model), "--json"]) == 0  # the global --ctx works too
    assert json.loads(capsys.readouterr().out)["n_ctx"] == 512
    assert main(["fit", "SmolLM2-135M-Instruct.Q4_1"]) == 0  # by catalog name
    out = capsys.readouterr().out
    assert "verdict:" in out and re.search(r"kv_cache +[\d.]+ [KMG]iB ", out)  # sizes in IEC units


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "no-such-model"], "no model file or catalog entry named 'no-such-model'"),
        (["fit", "/nowhere/m.gguf"], "m.gguf: file not found"),
        (["fit", "SmolLM2", "--ctx", "0"], "--ctx must be at least 1, not 0"),
    ],
)
def test_cli_fit_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("edgetui: ") and message in err


def test_cli_fit_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert main(["fit", str(bad)]) == 1
    assert "truncated" in capsys.readouterr().err


def test_fit_module_is_light() -> None:
    assert not hasattr(fit_mod, "psutil") and not hasattr(fit_mod, "pynvml")
