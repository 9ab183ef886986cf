"""NVIDIA GPU memory, utilisation and temperature through NVML (nvidia-ml-py), never raising when there is none."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment; a field NVML cannot read on this device is None."""

    index: int
    name: str
    vram_used: int | None  # bytes
    vram_total: int | None  # bytes
    util_percent: float | None  # GPU core utilisation over NVML's last sample period
    temperature_c: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# NVML error codes (nvml.h) that deserve a sentence of their own.
_NVML_REASONS = {
    2: "NVML was given an invalid argument",
    3: "this NVIDIA driver does not support NVML",
    4: "no permission to query the NVIDIA GPU",
    6: "no NVIDIA GPU found",
    9: "the NVIDIA driver is not loaded",
    12: "the NVIDIA driver library (libnvidia-ml) was not found",
    13: "the NVIDIA driver library is missing a function (driver too old?)",
    15: "the NVIDIA GPU has fallen off the bus",
    18: "the NVIDIA driver and kernel module versions do not match (reboot?)",
    28: "no NVIDIA GPU found",
}


class GpuMonitor:
    """Initialises NVML once, keeps the device handles, and samples every GPU cheaply on each call."""

    def __init__(self, nvml: Any = None) -> None:
        self._nvml = nvml  # the pynvml module (injectable for tests); imported lazily otherwise
        self._lock = threading.Lock()
        self._started = False
        self._handles: list[tuple[int, str, Any]] = []
        self.available = False
        self.reason = ""  # why no GPU can be read, for the user

    def start(self) -> bool:
        """Initialise NVML if not yet done; True when at least one GPU can be read."""
        with self._lock:
            if not self._started:
                self._started = True
                self._init_locked()
            return self.available

    def _init_locked(self) -> None:
        nvml = self._nvml
        if nvml is None:
            try:
                import pynvml as nvml
            except Exception:  # ImportError, or a broken install
                self.reason = "nvidia-ml-py is not installed"
                return
            self._nvml = nvml
        try:
            nvml.nvmlInit()
        except Exception as exc:
            self.reason = _describe(exc, "NVML could not start")
            return
        try:
            count = int(nvml.nvmlDeviceGetCount())
            handles = []
            for i in range(count):
                handle = nvml.nvmlDeviceGetHandleByIndex(i)
                handles.append((i, _text(_try(nvml.nvmlDeviceGetName, handle)) or f"GPU {i}", handle))
        except Exception as exc:
            self.reason = _describe(exc, "NVML could not list the GPUs")
            self._shutdown_quietly()
            return
        if not handles:
            self.reason = "no NVIDIA GPU found"
            self._shutdown_quietly()
            return
        self._handles = handles
        self.available = True
        self.reason = ""

    def sample(self) -> list[GpuSample]:
        """The current state of every GPU; empty when there is none (see `reason`)."""
        if not self._started:
            self.start()
        if not self.available:
            return []
        nvml = self._nvml
        out = []
        for index, name, handle in self._handles:
            mem = _try(nvml.nvmlDeviceGetMemoryInfo, handle)
            util = _try(nvml.nvmlDeviceGetUtilizationRates, handle)
            temp = _try(nvml.nvmlDeviceGetTemperature, handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0))
            out.append(
                GpuSample(
                    index=index,
                    name=name,
                    vram_used=_int(getattr(mem, "used", None)),
                    vram_total=_int(getattr(mem, "total", None)),
                    util_percent=_float(getattr(util, "gpu", None)),
                    temperature_c=_float(temp),
                )
            )
        return out

    def close(self) -> None:
        with self._lock:
            if self.available:
                self._shutdown_quietly()
            self._handles = []
            self.available = False
            self._started = False

    def _shutdown_quietly(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass


_shared: GpuMonitor | None = None
_shared_lock = threading.Lock()


def shared_monitor() -> GpuMonitor:
    """The process-wide monitor (NVML is initialised once, on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = GpuMonitor()
        return _shared


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


def _describe(exc: Exception, fallback: str) -> str:
    code = getattr(exc, "value", None)
    if isinstance(code, int) and code in _NVML_REASONS:
        return _NVML_REASONS[code]
    text = str(exc).strip()
    return f"{fallback}: {text}" if text else fallback


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value) if value is not None else ""


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
