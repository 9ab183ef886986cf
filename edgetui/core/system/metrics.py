"""Metrics: one cheap snapshot of process memory and CPU, system RAM and the GPUs, for the live gauges."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from edgetui.core.system.gpu import GpuMonitor, GpuSample, shared_monitor
from edgetui.core.system.token_rate import TokenRate

__all__ = ["Metrics", "MetricsSnapshot", "TokenRate"]


@dataclass(frozen=True)
class MetricsSnapshot:
    """What `Metrics.sample()` read; a field that could not be read is None (the UI hides or marks it)."""

    timestamp: float  # time.time()
    rss_bytes: int | None = None  # resident memory of this process and the `extra_pids` (the model runner)
    ram_used: int | None = None  # total - available: memory in use by everything on the machine
    ram_total: int | None = None
    ram_available: int | None = None
    cpu_percent: float | None = None  # the same processes since the previous sample; 100 = one core busy
    cpu_count: int | None = None  # logical cores: cpu_percent can reach 100 * cpu_count
    system_cpu_percent: float | None = None  # the whole machine since the previous sample, 0-100
    gpus: tuple[GpuSample, ...] = ()
    gpu_available: bool = False
    gpu_reason: str = ""  # why there are no GPU figures, when there are none

    @property
    def ram_percent(self) -> float | None:
        if self.ram_used is None or not self.ram_total:
            return None
        return 100.0 * self.ram_used / self.ram_total

    def as_dict(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "rss_bytes": self.rss_bytes,
            "ram_used": self.ram_used,
            "ram_total": self.ram_total,
            "ram_available": self.ram_available,
            "cpu_percent": self.cpu_percent,
            "cpu_count": self.cpu_count,
            "system_cpu_percent": self.system_cpu_percent,
            "gpus": [g.as_dict() for g in self.gpus],
            "gpu_available": self.gpu_available,
            "gpu_reason": self.gpu_reason,
        }


class Metrics:
    """Samples this process and the machine; construct once and call `sample()` from a timer (about 1 ms)."""

    def __init__(self, pid: int | None = None, gpu: GpuMonitor | None = None, with_gpu: bool = True) -> None:
        self.with_gpu = with_gpu
        self.gpu = gpu  # None: the process-wide NVML monitor, started on the first sample
        self._psutil: Any = None
        self._proc: Any = None
        self._extra: dict[int, Any] = {}  # pid -> psutil.Process, kept so that cpu_percent has a baseline
        try:
            import psutil
        except Exception:
            return
        self._psutil = psutil
        try:
            self._proc = psutil.Process(pid if pid is not None else os.getpid())
            self._proc.cpu_percent(interval=None)  # the first call only starts the clock
        except Exception:
            self._proc = None
        try:
            psutil.cpu_percent(interval=None)
        except Exception:
            pass

    def sample(self, extra_pids: Iterable[int] = ()) -> MetricsSnapshot:
        """Read everything now, without blocking; CPU percentages cover the time since the previous call.

        `extra_pids` (a model runner) count as part of this process in RSS and CPU."""
        psutil, proc = self._psutil, self._proc
        rss = cpu = sys_cpu = None
        ram_used = ram_total = ram_avail = None
        cpu_count = None
        if proc is not None:
            rss = _read(lambda: int(proc.memory_info().rss))
            cpu = _read(lambda: float(proc.cpu_percent(interval=None)))
            for child in self._processes(extra_pids):
                child_rss = _read(lambda c=child: int(c.memory_info().rss))
                child_cpu = _read(lambda c=child: float(c.cpu_percent(interval=None)))
                rss = rss + child_rss if rss is not None and child_rss is not None else rss
                cpu = cpu + child_cpu if cpu is not None and child_cpu is not None else cpu
        if psutil is not None:
            vm = _read(psutil.virtual_memory)
            if vm is not None:
                ram_total, ram_avail = int(vm.total), int(vm.available)
                ram_used = max(0, ram_total - ram_avail)
            sys_cpu = _read(lambda: float(psutil.cpu_percent(interval=None)))
            cpu_count = _read(psutil.cpu_count)
        gpus: tuple[GpuSample, ...] = ()
        gpu_ok, reason = False, "GPU monitoring is off"
        if self.with_gpu:
            monitor = self.gpu if self.gpu is not None else shared_monitor()
            try:
                gpus = tuple(monitor.sample())
                gpu_ok, reason = monitor.available, monitor.reason
            except Exception as exc:  # a monitor must never break the gauges
                gpus, gpu_ok, reason = (), False, f"GPU monitoring failed: {exc}"
        return MetricsSnapshot(
            timestamp=time.time(),
            rss_bytes=rss,
            ram_used=ram_used,
            ram_total=ram_total,
            ram_available=ram_avail,
            cpu_percent=cpu,
            cpu_count=cpu_count,
            system_cpu_percent=sys_cpu,
            gpus=gpus,
            gpu_available=gpu_ok,
            gpu_reason=reason,
        )

    def _processes(self, pids: Iterable[int]) -> list[Any]:
        """psutil objects for `pids`, the same from one sample to the next (a new one reads 0 % CPU at first)."""
        kept: dict[int, Any] = {}
        for pid in pids:
            known = self._extra.get(pid) or _read(lambda p=pid: self._psutil.Process(p))
            if known is not None:
                if pid not in self._extra:
                    _read(lambda c=known: c.cpu_percent(interval=None))  # starts its clock
                kept[pid] = known
        self._extra = kept
        return list(kept.values())


def _read(fn: Any) -> Any:
    try:
        return fn()
    except Exception:  # psutil.Error, OSError (a process gone, /proc unreadable), ...
        return None
