"""LlamaThread runs calls and interleaves streams on one thread; closing a stream closes the inner iterator."""

from __future__ import annotations

import threading

import pytest

from edgetui.core.llama_thread import LlamaThread


def test_call_runs_on_the_llama_thread_and_returns_or_raises() -> None:
    lt = LlamaThread(name="test-llama")
    assert lt.call(lambda: threading.current_thread().name) == "test-llama"
    with pytest.raises(ValueError, match="boom"):
        lt.call(lambda: (_ for _ in ()).throw(ValueError("boom")))


def test_two_streams_interleave_on_one_thread() -> None:
    lt = LlamaThread()
    order: list[str] = []
    names: set[str] = set()

    def gen(tag: str):
        for i in range(3):
            names.add(threading.current_thread().name)
            order.append(f"{tag}{i}")
            yield i

    results: dict[str, list[int]] = {}
    threads = [
        threading.Thread(target=lambda t=t: results.setdefault(t, list(lt.iterate(lambda: gen(t))))) for t in "ab"
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == {"a": [0, 1, 2], "b": [0, 1, 2]}
    assert names == {"llama.cpp"}
    assert sorted(order) == ["a0", "a1", "a2", "b0", "b1", "b2"]


def test_closing_the_consumer_closes_the_inner_generator() -> None:
    lt = LlamaThread()
    closed = threading.Event()
    produced: list[int] = []

    def gen():
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    for i in lt.iterate(gen):
        if i == 2:
            break
    assert closed.is_set()
    assert len(produced) < 10  # it stopped soon after the consumer did


def test_errors_in_a_stream_reach_the_consumer() -> None:
    lt = LlamaThread()

    def gen():
        yield 1
        raise RuntimeError("decode failed")

    it = lt.iterate(gen)
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="decode failed"):
        next(it)
