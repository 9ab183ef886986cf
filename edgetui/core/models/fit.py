"""Will a model fit? Predicted RAM/VRAM for a GGUF header and context size, against what the machine has free.

The prediction, per device (CPU RAM, GPU VRAM), in bytes:

    weights  = tensor bytes from the header. The last `n_gpu_layers` blocks go to the GPU, the token
               embeddings always stay on the CPU (llama.cpp keeps them there), the output layer moves to the
               GPU only when n_gpu_layers > block_count (what -1 means).
    kv       = sum over layers of n_ctx' * kv_heads(layer) * (key_dim + value_dim) * bytes(kv type),
               i.e. 2 * layers * n_ctx * kv_heads * head_dim * 2 for the f16 default; n_ctx' is n_ctx
               rounded up to a multiple of 256, as llama.cpp pads it. Offloaded layers keep their KV
               on the GPU.
    compute  = max(logits, attention) + activations, on the device that runs the graph, where
               logits      = n_ubatch * n_embd * 4 + n_out * n_vocab * 4
               attention   = n_ubatch * n_ctx' * (n_head + 1) * 4  (KQ scores + mask; 0 with flash attention)
               activations = n_ubatch * (2 * n_embd + n_ff) * 4
               llama.cpp's graph allocator reuses the logits memory for attention scratch, hence the max.
               With n_out = n_ubatch this is what llama.cpp reserves: within 5% of the "compute buffer
               size" it logs for SmolLM2-135M at n_ctx 512-8192, and what a GPU commits. On the CPU only
               the pages a graph touches become resident, and llama-cpp-python asks for the last token's
               logits only, so the CPU figure uses n_out = 1 (the attention term is reached once the
               context is full). With a GPU, the CPU keeps a small input buffer (n_ubatch * n_embd * 4 * 2).
    work     = n_ubatch * n_ctx' * n_head * 2, counted under compute while a layer runs on the CPU without
               flash attention: the CPU backend's own work buffer, where it converts the KQ scores to f16
               to multiply them with the V cache. On SmolLM2-135M, RSS growth after a full-context prompt
               is within 2% of weights + kv + compute(n_out=1) + work + overhead at n_ctx 512, 2048, 8192.
    overhead = 24 MiB on the CPU (llama.cpp context, graph metadata, output buffer, Python-side arrays)
               and 320 MiB on the GPU when anything is offloaded (CUDA context and cuBLAS workspace).

The verdict compares each device's need with what is available (psutil's `available` RAM, NVML's free VRAM):
"fits" when the need is at most 85% of it, "tight" up to 100% (`TIGHT_MARGIN` = 15% headroom missing),
"does not fit" beyond. The worst device decides.

Measured against a load (ModelInfo.rss_delta_bytes) the prediction is an upper bound: right after loading,
the attention scratch is not resident yet; it grows with the tokens in the context (`compare_measured`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.units import format_bytes

MIB = 1 << 20
TIGHT_MARGIN = 0.15
CPU_OVERHEAD = 24 * MIB
GPU_OVERHEAD = 320 * MIB
CTX_PAD = 256
FITS, TIGHT, NO_FIT = "fits", "tight", "does not fit"
_RANK = {FITS: 0, TIGHT: 1, NO_FIT: 2}

# Bytes per element of the KV cache types llama.cpp accepts (--cache-type-k/v).
KV_TYPE_BYTES: dict[str, float] = {
    "f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
    "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
}  # fmt: skip


@dataclass(frozen=True)
class Resources:
    """Memory the machine has free now; vram_free 0 = no usable GPU."""

    ram_available: int
    ram_total: int
    vram_free: int = 0
    vram_total: int = 0
    gpus: tuple[str, ...] = ()
    note: str = ""  # e.g. why a GPU that is present cannot be used


def gpu_memory() -> list[tuple[str, int, int]]:
    """(name, free bytes, total bytes) of each NVIDIA GPU (NVML); [] when there is none or NVML fails."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return []
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return []
    try:
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            out.append((name, int(mem.free), int(mem.total)))
        return out
    except Exception:
        return []
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def probe_resources(check_offload: bool = True) -> Resources:
    """RAM from psutil and VRAM from NVML; a GPU llama-cpp-python cannot offload to counts as none."""
    import psutil

    vm = psutil.virtual_memory()
    gpus = gpu_memory()
    note = ""
    if gpus and check_offload:
        try:
            import llama_cpp

            if not llama_cpp.llama_supports_gpu_offload():
                note = "a GPU is present but llama-cpp-python was built without GPU support"
        except Exception:
            note = "a GPU is present but llama-cpp-python could not be asked about GPU support"
    if note:
        return Resources(int(vm.available), int(vm.total), gpus=tuple(g[0] for g in gpus), note=note)
    return Resources(
        ram_available=int(vm.available),
        ram_total=int(vm.total),
        vram_free=sum(g[1] for g in gpus),
        vram_total=sum(g[2] for g in gpus),
        gpus=tuple(g[0] for g in gpus),
    )


@dataclass
class FitEstimate:
    """Predicted memory of one model at one context size and GPU split, and the verdict."""

    n_ctx: int
    n_gpu_layers: int
    n_layers: int
    weights_cpu: int = 0
    weights_gpu: int = 0
    kv_cpu: int = 0
    kv_gpu: int = 0
    compute_cpu: int = 0
    compute_gpu: int = 0
    overhead_cpu: int = 0
    overhead_gpu: int = 0
    ram_available: int = 0
    vram_free: int = 0
    verdict: str = FITS
    reason: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ram_needed(self) -> int:
        return self.weights_cpu + self.kv_cpu + self.compute_cpu + self.overhead_cpu

    @property
    def vram_needed(self) -> int:
        return self.weights_gpu + self.kv_gpu + self.compute_gpu + self.overhead_gpu

    @property
    def total_needed(self) -> int:
        return self.ram_needed + self.vram_needed

    def breakdown(self) -> dict[str, dict[str, int]]:
        """{"ram": {weights, kv_cache, compute, overhead, total, available}, "vram": {...}} in bytes."""
        return {
            "ram": {"weights": self.weights_cpu, "kv_cache": self.kv_cpu, "compute": self.compute_cpu,
                    "overhead": self.overhead_cpu, "total": self.ram_needed, "available": self.ram_available},
            "vram": {"weights": self.weights_gpu, "kv_cache": self.kv_gpu, "compute": self.compute_gpu,
                     "overhead": self.overhead_gpu, "total": self.vram_needed, "available": self.vram_free},
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ram_needed=self.ram_needed, vram_needed=self.vram_needed, breakdown=self.breakdown())
        return d


def verdict_for(needed: int, available: int) -> str:
    """FITS with TIGHT_MARGIN headroom to spare, TIGHT when it only just fits, else NO_FIT."""
    if needed <= 0:
        return FITS
    if needed <= available * (1 - TIGHT_MARGIN):
        return FITS
    return TIGHT if needed <= available else NO_FIT


def _padded_ctx(n_ctx: int) -> int:
    return max(CTX_PAD, -(-n_ctx // CTX_PAD) * CTX_PAD)


def kv_bytes_per_layer(header: GGUFHeader, n_ctx: int, kv_type: str = "f16") -> list[int]:
    """KV cache bytes of each layer for `n_ctx` tokens."""
    per = KV_TYPE_BYTES.get(kv_type.lower())
    if per is None:
        raise ValueError(f"unknown KV cache type {kv_type!r}; one of {', '.join(KV_TYPE_BYTES)}")
    dims = header.head_dim_k + header.head_dim_v
    ctx = _padded_ctx(n_ctx)
    return [int(ctx * heads * dims * per) for heads in header.kv_heads()]


def compute_bytes(
    header: GGUFHeader, n_ctx: int, n_ubatch: int = 512, flash_attn: bool = False, n_out: int | None = None
) -> int:
    """llama.cpp's compute buffer, estimated (formula in the module docstring); n_out None = n_ubatch."""
    ub = max(1, n_ubatch)
    logits = (ub * header.embedding_length + (ub if n_out is None else n_out) * header.vocab_size) * 4
    attention = 0 if flash_attn else ub * _padded_ctx(n_ctx) * (header.head_count + 1) * 4
    activations = ub * (2 * header.embedding_length + header.feed_forward_length) * 4
    return max(logits, attention) + activations


def _layers(header: GGUFHeader) -> list[int]:
    n = header.block_count or len(header.layer_bytes)
    return (header.layer_bytes + [0] * n)[:n]


def estimate_fit(
    header: GGUFHeader,
    n_ctx: int = 4096,
    n_gpu_layers: int = 0,
    resources: Resources | None = None,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
) -> FitEstimate:
    """Predict the memory `header`'s model needs; n_gpu_layers -1 = all, -2 = auto (`n_gpu_layers_auto`)."""
    res = resources or probe_resources()
    layers = _layers(header)
    n_layers = len(layers)
    n_ctx = max(1, n_ctx)
    if n_gpu_layers == -2:
        n_gpu_layers = n_gpu_layers_auto(header, n_ctx, res.vram_free, kv_type, n_ubatch, flash_attn)
    notes: list[str] = []
    if n_gpu_layers and not res.vram_free:
        notes.append("no usable GPU: every layer runs on the CPU" + (f" ({res.note})" if res.note else ""))
        n_gpu_layers = 0
    gpu = n_layers + 1 if n_gpu_layers < 0 else min(n_gpu_layers, n_layers + 1)
    first_gpu = n_layers - min(gpu, n_layers)  # llama.cpp offloads the last layers
    kv = kv_bytes_per_layer(header, n_ctx, kv_type)
    kv = (kv + [0] * n_layers)[:n_layers]
    est = FitEstimate(n_ctx=n_ctx, n_gpu_layers=gpu, n_layers=n_layers, notes=notes,
                      ram_available=res.ram_available, vram_free=res.vram_free)  # fmt: skip
    est.weights_gpu = sum(layers[first_gpu:]) + (header.output_bytes if gpu > n_layers else 0)
    est.weights_cpu = header.tensor_bytes - est.weights_gpu
    est.kv_gpu, est.kv_cpu = sum(kv[first_gpu:]), sum(kv[:first_gpu])
    est.overhead_cpu = CPU_OVERHEAD
    if gpu:
        est.compute_gpu = compute_bytes(header, n_ctx, n_ubatch, flash_attn)
        est.compute_cpu = n_ubatch * header.embedding_length * 4 * 2
        est.overhead_gpu = GPU_OVERHEAD
    else:
        est.compute_cpu = compute_bytes(header, n_ctx, n_ubatch, flash_attn, n_out=1)
    if first_gpu > 0 and not flash_attn:  # layers on the CPU: the CPU backend's work buffer
        est.compute_cpu += n_ubatch * _padded_ctx(n_ctx) * header.head_count * 2
    ram = verdict_for(est.ram_needed, res.ram_available)
    vram = verdict_for(est.vram_needed, res.vram_free) if gpu else FITS
    est.verdict = max(ram, vram, key=_RANK.__getitem__)
    reasons = []
    if ram != FITS:
        reasons.append(f"needs {format_bytes(est.ram_needed)} of RAM, {format_bytes(res.ram_available)} free")
    if vram != FITS:
        reasons.append(f"needs {format_bytes(est.vram_needed)} of VRAM, {format_bytes(res.vram_free)} free")
    est.reason = "; ".join(reasons)
    return est


def n_gpu_layers_auto(
    header: GGUFHeader,
    n_ctx: int,
    free_vram: int,
    kv_type: str = "f16",
    n_ubatch: int = 512,
    flash_attn: bool = False,
) -> int:
    """Layers to offload: block_count + 1 (all, output layer included: what -1 means) when the whole model
    fits in free_vram with TIGHT_MARGIN to spare, else as many of the last layers as fit; 0 without a GPU."""
    if free_vram <= 0:
        return 0
    layers = _layers(header)
    kv = (kv_bytes_per_layer(header, n_ctx, kv_type) + [0] * len(layers))[: len(layers)]
    compute = compute_bytes(header, n_ctx, n_ubatch, flash_attn)
    budget = free_vram * (1 - TIGHT_MARGIN) - GPU_OVERHEAD - compute
    if budget <= 0:
        return 0
    if sum(layers) + sum(kv) + header.output_bytes <= budget:
        return len(layers) + 1
    used = n = 0
    for size, cache in zip(reversed(layers), reversed(kv), strict=True):
        if used + size + cache > budget:
            break
        used += size + cache
        n += 1
    return n


def relative_error(predicted: float, measured: float) -> float:
    """(predicted - measured) / measured: +0.25 = predicted 25% too much; inf when measured is 0."""
    if measured == 0:
        return 0.0 if predicted == 0 else float("inf")
    return (predicted - measured) / measured


def compare_measured(estimate: FitEstimate, rss_delta: int, vram_delta: int = 0) -> dict[str, dict]:
    """Predicted vs measured (RSS growth and VRAM growth over a load) with the relative error of each."""
    out = {"ram": {"predicted": estimate.ram_needed, "measured": rss_delta,
                   "error": relative_error(estimate.ram_needed, rss_delta)}}  # fmt: skip
    if estimate.vram_needed or vram_delta:
        out["vram"] = {"predicted": estimate.vram_needed, "measured": vram_delta,
                       "error": relative_error(estimate.vram_needed, vram_delta)}  # fmt: skip
    return out
