"""Tests for the GPU monitor, the process/system metrics and the TokenRate meter."""

from __future__ import annotations

import math
import random
import sys
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgetui.core.system.gpu import GpuMonitor, GpuSample, shared_monitor
from edgetui.core.system.metrics import Metrics, MetricsSnapshot
from edgetui.core.system.token_rate import TokenRate

# -- GPU ------------------------------------------------------------------------------------------------


def test_gpu_monitor_on_this_machine_never_raises() -> None:
    monitor = GpuMonitor()
    samples = monitor.sample()
    assert isinstance(samples, list)
    if not monitor.available:
        assert samples == []
        assert monitor.reason  # says why
    for s in samples:
        assert isinstance(s, GpuSample)
        assert s.vram_total is None or s.vram_total > 0
    monitor.close()


class _NvmlError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def _fake_nvml(**failing: Exception) -> types.SimpleNamespace:
    """A stand-in for pynvml with one GPU; the functions named in `failing` raise the given exception."""
    mem = types.SimpleNamespace(used=1 << 30, total=8 << 30, free=7 << 30)
    calls = {"init": 0, "shutdown": 0}

    def fn(name, result):
        def call(*args):
            if name == "nvmlInit":
                calls["init"] += 1
            if name == "nvmlShutdown":
                calls["shutdown"] += 1
            if name in failing:
                raise failing[name]
            return result

        return call

    ns = types.SimpleNamespace(calls=calls, NVML_TEMPERATURE_GPU=0)
    for name, result in {
        "nvmlInit": None,
        "nvmlShutdown": None,
        "nvmlDeviceGetCount": 1,
        "nvmlDeviceGetHandleByIndex": object(),
        "nvmlDeviceGetName": b"NVIDIA Test GPU",
        "nvmlDeviceGetMemoryInfo": mem,
        "nvmlDeviceGetUtilizationRates": types.SimpleNamespace(gpu=42, memory=10),
        "nvmlDeviceGetTemperature": 61,
    }.items():
        setattr(ns, name, fn(name, result))
    return ns


def test_gpu_monitor_reads_a_gpu_and_inits_once() -> None:
    nvml = _fake_nvml()
    monitor = GpuMonitor(nvml=nvml)
    first = monitor.sample()
    second = monitor.sample()
    assert monitor.available and monitor.reason == ""
    assert nvml.calls["init"] == 1
    assert first == second == [GpuSample(0, "NVIDIA Test GPU", 1 << 30, 8 << 30, 42.0, 61.0)]
    monitor.close()
    assert nvml.calls["shutdown"] == 1


@pytest.mark.parametrize(
    ("failing", "reason_part"),
    [
        ({"nvmlInit": _NvmlError(12)}, "not found"),  # no driver library
        ({"nvmlInit": _NvmlError(9)}, "driver is not loaded"),
        ({"nvmlInit": _NvmlError(4)}, "permission"),
        ({"nvmlInit": RuntimeError("boom")}, "boom"),
        ({"nvmlDeviceGetCount": _NvmlError(6)}, "no NVIDIA GPU"),
        ({"nvmlDeviceGetHandleByIndex": _NvmlError(15)}, "fallen off the bus"),
    ],
)
def test_gpu_monitor_failures_give_a_reason_not_an_exception(failing: dict, reason_part: str) -> None:
    monitor = GpuMonitor(nvml=_fake_nvml(**failing))
    assert monitor.sample() == []
    assert monitor.available is False
    assert reason_part in monitor.reason


def test_gpu_monitor_no_gpu_at_all() -> None:
    nvml = _fake_nvml()
    nvml.nvmlDeviceGetCount = lambda: 0
    monitor = GpuMonitor(nvml=nvml)
    assert monitor.sample() == []
    assert monitor.reason == "no NVIDIA GPU found"


def test_gpu_monitor_unreadable_fields_are_none() -> None:
    err = _NvmlError(3)  # not supported
    monitor = GpuMonitor(
        nvml=_fake_nvml(
            nvmlDeviceGetMemoryInfo=err,
            nvmlDeviceGetUtilizationRates=err,
            nvmlDeviceGetTemperature=err,
            nvmlDeviceGetName=err,
        )
    )
    [s] = monitor.sample()
    assert (s.name, s.vram_used, s.vram_total, s.util_percent, s.temperature_c) == ("GPU 0", None, None, None, None)


def test_gpu_monitor_with_real_pynvml_made_to_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    def raise_(*args):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_DRIVER_NOT_LOADED)

    monkeypatch.setattr(pynvml, "nvmlInit", raise_)
    monitor = GpuMonitor()
    assert monitor.sample() == []
    assert monitor.reason == "the NVIDIA driver is not loaded"


def test_gpu_monitor_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    monitor = GpuMonitor()
    assert monitor.sample() == []
    assert "not installed" in monitor.reason


def test_shared_monitor_is_one_instance() -> None:
    assert shared_monitor() is shared_monitor()


# -- Metrics -----------------------------------------------------------------------------------------------


def test_metrics_sample_fields() -> None:
    metrics = Metrics()
    sum(i * i for i in range(200_000))  # some CPU time between the samples
    snap = metrics.sample()
    assert isinstance(snap, MetricsSnapshot)
    assert snap.timestamp > 0
    assert snap.rss_bytes is not None and snap.rss_bytes > 10 * 1024 * 1024  # a Python with psutil loaded
    assert snap.ram_total and snap.ram_available is not None and snap.ram_used is not None
    assert snap.ram_used + snap.ram_available == snap.ram_total
    assert 0.0 < snap.ram_percent <= 100.0
    assert snap.cpu_percent is not None and snap.cpu_percent >= 0.0
    assert snap.cpu_count and snap.cpu_count >= 1
    assert snap.system_cpu_percent is not None and 0.0 <= snap.system_cpu_percent <= 100.0
    assert isinstance(snap.gpus, tuple)
    assert snap.gpu_available == bool(snap.gpus)
    if not snap.gpus:
        assert snap.gpu_reason
    d = snap.as_dict()
    assert set(d) >= {"rss_bytes", "ram_used", "ram_total", "ram_available", "cpu_percent", "gpus", "timestamp"}


def test_metrics_with_a_fake_gpu_and_gpu_off() -> None:
    snap = Metrics(gpu=GpuMonitor(nvml=_fake_nvml())).sample()
    assert snap.gpu_available and snap.gpus[0].util_percent == 42.0
    assert snap.as_dict()["gpus"][0]["name"] == "NVIDIA Test GPU"
    off = Metrics(with_gpu=False).sample()
    assert off.gpus == () and not off.gpu_available


def test_metrics_fields_it_cannot_read_are_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    metrics = Metrics(with_gpu=False)

    def broken(*a, **k):
        raise psutil.AccessDenied()

    monkeypatch.setattr(metrics._proc, "memory_info", broken)
    monkeypatch.setattr(metrics._proc, "cpu_percent", broken)
    monkeypatch.setattr(psutil, "virtual_memory", broken)
    snap = metrics.sample()
    assert snap.rss_bytes is None and snap.cpu_percent is None
    assert snap.ram_total is None and snap.ram_used is None and snap.ram_percent is None


def test_metrics_of_a_process_that_is_gone() -> None:
    snap = Metrics(pid=2**22 + 12345, with_gpu=False).sample()  # above Linux's pid_max
    assert snap.rss_bytes is None and snap.cpu_percent is None
    assert snap.ram_total  # the system figures are still there


# -- TokenRate ---------------------------------------------------------------------------------------------


def _steady(rate: float, seconds: float, start: float = 10.0, n: int = 1) -> TokenRate:
    tr = TokenRate()
    tr.start(start - 0.25)
    t = start
    for _ in range(int(rate * seconds / n) + 1):
        tr.add(t, n)
        t += n / rate
    return tr


@pytest.mark.parametrize("rate", [0.3, 2.0, 10.0, 178.0, 5000.0])
def test_token_rate_steady_stream_is_exact(rate: float) -> None:
    tr = _steady(rate, 6.0)
    assert tr.rate() == pytest.approx(rate, rel=1e-9)
    assert tr.smoothed == pytest.approx(rate, rel=1e-9)
    assert tr.average == pytest.approx(rate, rel=1e-9)
    assert tr.ttft_s == pytest.approx(0.25)


def test_token_rate_multi_token_chunks() -> None:
    tr = _steady(100.0, 3.0, n=4)  # 4 tokens every 40 ms
    assert tr.rate() == pytest.approx(100.0)
    assert tr.smoothed == pytest.approx(100.0)
    assert tr.tokens == 4 * (int(100 * 3 / 4) + 1)


def test_token_rate_between_tokens_and_during_a_stall() -> None:
    tr = _steady(10.0, 3.0)
    last = tr.last_t
    assert tr.rate(last + 0.05) == pytest.approx(10.0)  # within one interval: still the rate
    later = [tr.rate(last + dt) for dt in (0.1, 0.3, 1.0, 3.0)]
    assert later == sorted(later, reverse=True) and later[-1] < 3.0  # it falls while nothing comes
    assert tr.smoothed_at(last + 3.0) < tr.smoothed


def test_token_rate_follows_a_change_of_speed() -> None:
    tr = TokenRate()
    t = 0.0
    for _ in range(50):
        tr.add(t)
        t += 0.1
    assert tr.rate() == pytest.approx(10.0)
    for _ in range(300):
        tr.add(t)
        t += 0.01
    assert tr.rate() == pytest.approx(100.0)  # the window holds only the new speed
    assert 90.0 < tr.smoothed < 100.0  # the EMA (tau 1 s) is nearly there


def test_token_rate_history_is_one_value_per_step_and_bounded() -> None:
    tr = TokenRate(step_s=0.5, history_len=8)
    tr.add(0.0)
    t = 0.0
    while t < 3.0:
        t += 0.02
        tr.add(t)
    assert len(tr.history) == 6  # steps at 0.5, 1.0, ..., 3.0 s minus the last not yet reached
    assert tr.history[-1] == pytest.approx(50.0)
    for _ in range(1000):
        t += 0.02
        tr.add(t)
    assert len(tr.history) == 8
    tr.tick(t + 2.0)  # a stall, seen by a UI timer
    assert len(tr.history) == 8 and tr.history[-1] < tr.history[0]
    tr.tick(t + 10_000.0)  # a very long one does not loop over every missed step
    assert tr.history[-1] == 0.0


def test_token_rate_before_enough_data_and_reset() -> None:
    tr = TokenRate()
    assert (tr.rate(), tr.smoothed, tr.average, tr.ttft_s, tr.history) == (0.0, 0.0, 0.0, None, [])
    tr.add(5.0, 3)
    assert (tr.rate(), tr.smoothed, tr.tokens) == (0.0, 0.0, 3)
    assert tr.ttft_s is None  # no start time given
    tr.add(5.0)  # same timestamp: no division by zero
    assert math.isfinite(tr.rate())
    tr.reset(100.0)
    tr.add(100.5)
    assert tr.tokens == 1 and tr.ttft_s == pytest.approx(0.5)


def test_token_rate_ignores_a_clock_going_backwards() -> None:
    tr = _steady(50.0, 1.0)
    tr.add(tr.last_t - 1.0)
    assert math.isfinite(tr.rate()) and tr.rate() > 0
    assert math.isfinite(tr.smoothed)


def test_token_rate_ring_overflow_keeps_a_rate() -> None:
    tr = TokenRate(capacity=16)
    t = 0.0
    for _ in range(1000):
        tr.add(t)
        t += 0.001
    assert tr.rate() == pytest.approx(1000.0)


def test_token_rate_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        TokenRate(window_s=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.5), st.integers(1, 8)), min_size=1, max_size=300))
def test_token_rate_never_breaks(gaps: list[tuple[float, int]]) -> None:
    tr = TokenRate(history_len=16)
    t = 1.0
    for gap, n in gaps:
        t += gap
        tr.add(t, n)
        r = tr.rate()
        assert math.isfinite(r) and r >= 0.0
    assert math.isfinite(tr.smoothed) and tr.smoothed >= 0.0
    assert tr.tokens == sum(n for _, n in gaps)
    assert len(tr.history) <= 16 and all(math.isfinite(h) and h >= 0 for h in tr.history)


def test_token_rate_jittered_stream_is_close() -> None:
    rng = random.Random(7)
    tr = TokenRate()
    t = 0.0
    for _ in range(3000):
        tr.add(t)
        t += rng.uniform(0.5, 1.5) / 200.0  # mean 200 tokens/s
    assert tr.average == pytest.approx(200.0, rel=0.03)
    assert tr.rate() == pytest.approx(200.0, rel=0.15)
    assert tr.smoothed == pytest.approx(200.0, rel=0.15)


def test_rss_and_cpu_include_the_extra_pids():
    """The model runner (engine_process) is another process: its memory and CPU belong to the app's gauges."""
    import subprocess
    import sys
    import time

    import psutil

    metrics = Metrics(with_gpu=False)
    before = metrics.sample().rss_bytes
    # 150 MiB written (so resident), then a busy loop until it is killed
    code = "import sys\nx = b'x' * (150 * 2**20)\nprint('ready', flush=True)\nwhile True: pass"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        snap = metrics.sample(extra_pids=[child.pid])  # (also the start of the child's CPU window)
        alone = psutil.Process(child.pid)
        alone.cpu_percent(interval=None)  # the same window, measured on the child alone
        assert snap.rss_bytes is not None and before is not None
        assert snap.rss_bytes - before >= 140 * 2**20
        # The child's busy loop counts: once it has run a while (however busy the machine is), the gauge's CPU is at
        # least the child's own share of the same window (without it, it would be this test's idle process alone).
        start = sum(alone.cpu_times()[:2])
        deadline = time.monotonic() + 60
        while sum(alone.cpu_times()[:2]) - start < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        cpu = metrics.sample(extra_pids=[child.pid]).cpu_percent
        child_cpu = alone.cpu_percent(interval=None)
        assert child_cpu > 0, "the child's busy loop got no CPU in 60 s"
        assert cpu is not None and cpu >= 0.8 * child_cpu, (cpu, child_cpu)
    finally:
        child.kill()
        child.wait()
