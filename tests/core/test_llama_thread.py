"""LlamaThread runs calls and interleaves streams on one thread; closing a stream closes the inner iterator."""

from __future__ import annotations

import threading
import time
import types

import pytest

from edgetui.core.engines import llama_thread
from edgetui.core.engines.llama_thread import LlamaThread


class FakeClock:
    """`time` for llama_thread's batching: it moves only when a test's generator says a token took so long."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def perf_counter(self) -> float:
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(llama_thread, "time", types.SimpleNamespace(perf_counter=fake.perf_counter))
    return fake


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


def test_a_stream_runs_ahead_of_a_slow_consumer_up_to_its_window() -> None:
    lt = LlamaThread()
    made = threading.Semaphore(0)

    def gen():
        for i in range(100):
            made.release()
            yield i

    it = lt.iterate(gen, ahead=5)
    assert next(it) == 0
    for _ in range(6):  # item 0 and five more were made without the consumer asking for them
        assert made.acquire(timeout=30)
    for _ in range(2):  # two round trips: a stream with room left would have made an item between them
        lt.call(lambda: None)
    assert not made.acquire(blocking=False)  # ...and no more: the window is full
    assert list(it) == list(range(1, 100))  # nothing made ahead is lost


def test_closing_a_stream_that_ran_ahead_drops_its_items_and_closes_it() -> None:
    lt = LlamaThread()
    closed = threading.Event()

    def gen():
        try:
            yield from range(1000)
        finally:
            closed.set()

    it = lt.iterate(gen, ahead=50)
    assert next(it) == 0
    it.close()
    assert closed.is_set()
    assert lt.call(lambda: "still serving") == "still serving"


def test_streams_that_run_ahead_still_interleave() -> None:
    lt = LlamaThread()
    order: list[str] = []
    gate = threading.Event()
    busy = threading.Thread(target=lt.call, args=(gate.wait,))  # keeps the thread busy while both streams ask
    busy.start()

    def gen(tag: str):
        for i in range(4):
            order.append(f"{tag}{i}")
            yield i

    its = [lt.iterate(lambda t=t: gen(t), ahead=10) for t in "ab"]
    results: dict[int, list[int]] = {}
    consumers = [threading.Thread(target=lambda k=k: results.setdefault(k, list(its[k]))) for k in range(2)]
    for th in consumers:
        th.start()
    while lt._inbox.qsize() < 2:  # both streams have asked for items
        time.sleep(0.01)
    gate.set()
    for th in [busy, *consumers]:
        th.join()
    assert results == {0: [0, 1, 2, 3], 1: [0, 1, 2, 3]}
    first, second = order[0][0], order[1][0]
    assert first != second
    assert order == [f"{tag}{i}" for i in range(4) for tag in (first, second)]  # one item each, in turn


def test_gathered_items_arrive_in_batches_merged_in_order(clock: FakeClock) -> None:
    lt = LlamaThread()

    def gen():
        for i in range(60):
            clock.advance(0.002)  # a token every 2 ms
            yield [i]

    batches = list(lt.iterate(gen, ahead=100, gather_s=0.03, merge=lambda items: [x for item in items for x in item]))
    assert [x for batch in batches for x in batch] == list(range(60))  # nothing lost, nothing reordered
    assert batches[0] == [0]  # the first item is handed over at once
    assert len(batches) <= 6  # 60 items in 0.12 s, at most one batch every 0.03 s after the first: not 60 wake-ups


def test_gathered_items_are_handed_over_when_the_consumers_room_runs_out(clock: FakeClock) -> None:
    """The clock stands still: no batch is ever due by time, so only the room rule hands the items over (without
    it, the stream would wait for room the consumer never gets)."""
    lt = LlamaThread()
    it = lt.iterate(lambda: iter(range(10)), ahead=3, gather_s=60.0)
    got: list[int] = []
    consumer = threading.Thread(target=lambda: got.extend(it), daemon=True)
    consumer.start()
    consumer.join(30)  # (a guard against a hang, not a measure of speed)
    assert not consumer.is_alive(), f"the consumer is stuck after {got}: nothing was handed over when its room ran out"
    assert got == list(range(10))


def test_a_consumer_on_the_llama_thread_gets_the_same_batches(clock: FakeClock) -> None:
    lt = LlamaThread()

    def gen():
        for i in range(60):
            clock.advance(0.002)
            yield [i]

    merge = lambda items: [x for item in items for x in item]  # noqa: E731
    batches = lt.call(lambda: list(lt.iterate(gen, gather_s=0.03, merge=merge)))  # as the engine runner does
    assert [x for batch in batches for x in batch] == list(range(60))
    assert batches[0] == [0]
    assert len(batches) <= 6
