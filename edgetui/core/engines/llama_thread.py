"""LlamaThread: all llama.cpp computation of the process runs on one long-lived thread.

Why: llama.cpp's CPU backend parallelises with OpenMP, and OpenMP keeps a thread team per calling thread. While a
second thread that has used OpenMP is alive, each team slows the other down about fourfold on a small machine
(measured here: 135 tokens/s alone, 33 tokens/s with another such thread idle). Textual's thread workers come from
a reusable pool, so without this the app would sooner or later decode from two live threads. Everything that
decodes — generation, benchmarks, quality measurements — goes through `LlamaThread.shared()`.

Streams are advanced one item at a time in turn, so two answers "at once" (compare) interleave token by token on
the one thread. A stream may run a few items ahead of its consumer (`ahead`): then the llama thread never waits for
the consumer between tokens. In the app that wait cost about 0.3 ms a token, 4 % of the answer's time: the consumer
needs the GIL to ask for the next token, and the UI thread holds it while it lays out and paints (measured in the
app: the time per token outside llama_decode fell from 0.36-0.52 ms to 0.07-0.20 ms). With `gather_s` the items
are handed over in batches, so the consumer's thread wakes a few dozen times a second, not once per token (each
wake-up on a busy machine preempts a llama.cpp thread). Callers must not hold a lock that a task or stream step on
this thread would wait for.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()


@dataclass
class _Gather:
    """Items made and not handed over yet: the first goes at once, then at most one batch per `every` seconds."""

    every: float = 0.0
    held: list[Any] = field(default_factory=list)
    handed: float = float("-inf")  # time.perf_counter() of the last hand-over

    def add(self, item: Any, *, now: bool = False) -> list[Any] | None:
        """Hold `item`; the batch to hand over when one is due (or `now`), else None."""
        self.held.append(item)
        t = time.perf_counter()
        return self.take(t) if now or t - self.handed >= self.every else None

    def take(self, t: float | None = None) -> list[Any]:
        batch, self.held = self.held, []
        self.handed = time.perf_counter() if t is None else t
        return batch


@dataclass(eq=False)
class _Stream:
    make: Callable[[], Iterator[Any]]
    out: queue.SimpleQueue[tuple[str, Any]] = field(default_factory=queue.SimpleQueue)
    it: Iterator[Any] | None = None
    credit: int = 0  # items the consumer has room for (touched on the llama thread only)
    done: bool = False
    gather: _Gather = field(default_factory=_Gather)  # (llama thread only)


class LlamaThread:
    """A single worker thread that runs calls to completion and advances streams in turn."""

    _shared: LlamaThread | None = None
    _shared_lock = threading.Lock()

    def __init__(self, name: str = "llama.cpp") -> None:
        self._inbox: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @classmethod
    def shared(cls) -> LlamaThread:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    @property
    def on_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` on the llama thread and return its result (or raise its exception)."""
        if self.on_thread:
            return fn(*args, **kwargs)
        future: Future[T] = Future()
        self._inbox.put(("call", (future, fn, args, kwargs)))
        return future.result()

    def iterate(
        self,
        make: Callable[[], Iterator[T]],
        ahead: int = 1,
        gather_s: float = 0.0,
        merge: Callable[[list[T]], T] | None = None,
    ) -> Iterator[T]:
        """Items of the iterator `make()` returns, produced on the llama thread and yielded here.

        At most `ahead` items are produced before the consumer takes them (1: each item only when asked for).
        With `gather_s`, items are handed over together, at most once per `gather_s` (the first at once, and
        whenever the consumer's room runs out); with `merge`, each such batch is yielded as `merge(batch)`.
        Closing the returned generator (break, GeneratorExit) closes the inner one, and returns once its `finally`
        blocks have run; items made ahead and not taken are dropped.
        """
        if self.on_thread:  # the consumer runs here too (the engine runner): gathered the same way, no hand-over
            yield from _gathered(make(), gather_s, merge)
            return
        stream = _Stream(make, gather=_Gather(gather_s))
        finished = False
        try:
            self._inbox.put(("next", (stream, max(1, ahead))))
            while True:
                kind, value = stream.out.get()
                if kind == "items":
                    self._inbox.put(("next", (stream, len(value))))  # room for as many more
                    yield from _batch(value, merge)
                    continue
                finished = True
                if kind == "done":
                    return
                raise value
        finally:
            if not finished:
                self._inbox.put(("close", stream))
                while stream.out.get()[0] == "items":  # items made ahead: dropped
                    pass

    # -- the thread ---------------------------------------------------------------------------------------
    def _loop(self) -> None:
        wanted: list[_Stream] = []  # streams with credit, in turn
        while True:
            self._take(wanted, block=not wanted)
            for stream in list(wanted):  # one step each, in turn: concurrent streams interleave
                if not stream.done:
                    stream.credit -= 1
                    self._step(stream)
            wanted[:] = [s for s in wanted if s.credit > 0 and not s.done]

    def _take(self, wanted: list[_Stream], block: bool) -> None:
        while True:
            try:
                kind, value = self._inbox.get(block=block)
            except queue.Empty:
                return
            block = False
            if kind == "call":
                future, fn, args, kwargs = value
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as exc:  # handed to the caller
                        future.set_exception(exc)
            elif kind == "next":
                stream, n = value
                if not stream.done:
                    stream.credit += n
                    if stream not in wanted:
                        wanted.append(stream)
            elif kind == "close":
                if not value.done:
                    self._finish(value, ("done", None))
                else:
                    value.out.put(("done", None))  # it ended on its own; the consumer is waiting for this answer

    def _step(self, stream: _Stream) -> None:
        try:
            if stream.it is None:
                stream.it = iter(stream.make())
            item = next(stream.it, _DONE)
        except BaseException as exc:  # handed to the consumer
            self._finish(stream, ("error", exc))
            return
        if item is _DONE:
            self._finish(stream, ("done", None))
            return
        batch = stream.gather.add(item, now=stream.credit <= 0)  # (the consumer's room is full: hand over now)
        if batch:
            stream.out.put(("items", batch))

    def _finish(self, stream: _Stream, last: tuple[str, Any]) -> None:
        close = getattr(stream.it, "close", None)
        if close is not None:
            try:
                close()
            except BaseException as exc:  # a failing close is reported like a failing step
                last = ("error", exc)
        stream.it = None
        stream.done = True
        if stream.gather.held:
            stream.out.put(("items", stream.gather.take()))
        stream.out.put(last)


def _gathered(items: Iterator[T], gather_s: float, merge: Callable[[list[T]], T] | None) -> Iterator[T]:
    """`items` in batches as `iterate` hands them over: the first at once, then at most one batch per `gather_s`."""
    gather = _Gather(gather_s)
    try:
        for item in items:
            batch = gather.add(item)
            if batch:
                yield from _batch(batch, merge)
        yield from _batch(gather.take(), merge)
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _batch(items: list[T], merge: Callable[[list[T]], T] | None) -> Iterator[T]:
    """A batch as the consumer sees it: one merged item, or the items themselves."""
    if merge is not None and len(items) > 1:
        yield merge(items)
    else:
        yield from items
