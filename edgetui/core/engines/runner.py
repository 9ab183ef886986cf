"""EngineRunner: the child process behind ProcessEngine, serving one LlamaEngine over a pipe (`-m` entry point).

Protocol (pickled tuples, one per message): requests `(rid, op, args)` arrive on stdin, replies `(rid, kind,
payload)` leave on the original stdout, which is moved off fd 1 first so no stray print can corrupt it.

- `load (path, LoadOptions)` → `ok ModelInfo`; `unload ()` → `ok None`; `count [ChatMessage]` → `ok int`
- `stream ([ChatMessage], SamplerSettings)` → `chunk (text, t)`… then `end GenerationStats`
- `cancel rid` (no reply): stops that stream at its next token.
- Any request can answer `error "message"` (an EngineError's text, shown to the user as it is).

Requests run one at a time, in order, on a worker thread; `cancel` and `count` are answered by the reader at once.
A stream runs its whole loop on the llama thread, so no token crosses a thread inside this process. EOF on stdin
(the app exited, or was killed) ends the process.
"""

from __future__ import annotations

import os
import pickle
import queue
import sys
import threading
from typing import Any, BinaryIO

from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.llama_thread import LlamaThread
from edgetui.core.types import EngineError, StopReason


class EngineRunner:
    """Reads requests, runs them on a LlamaEngine, writes replies."""

    def __init__(self, inp: BinaryIO, out: BinaryIO, engine: LlamaEngine | None = None) -> None:
        self.engine = engine or LlamaEngine()
        self._inp, self._out = inp, out
        self._send_lock = threading.Lock()
        self._cancels: dict[int, threading.Event] = {}
        self._work: queue.SimpleQueue[tuple[int, str, Any] | None] = queue.SimpleQueue()

    def send(self, rid: int, kind: str, payload: Any) -> None:
        data = pickle.dumps((rid, kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with self._send_lock:
            self._out.write(data)
            self._out.flush()

    def serve(self) -> None:
        """Answer requests until stdin closes."""
        worker = threading.Thread(target=self._run_work, name="runner-work", daemon=True)
        worker.start()
        while True:
            try:
                rid, op, args = pickle.load(self._inp)
            except (EOFError, OSError, pickle.UnpicklingError, ValueError):
                break
            if op == "cancel":
                event = self._cancels.get(args)
                if event is not None:
                    event.set()
            elif op == "count":
                self._answer(rid, self.engine.count_tokens, args)
            else:
                if op == "stream":
                    self._cancels[rid] = threading.Event()
                self._work.put((rid, op, args))
        for event in list(self._cancels.values()):  # the app is gone: stop what runs
            event.set()

    def _run_work(self) -> None:
        while (item := self._work.get()) is not None:
            rid, op, args = item
            try:
                if op == "stream":
                    self._stream(rid, *args)
                elif op == "load":
                    self._answer(rid, self.engine.load, *args)
                elif op == "unload":
                    self._answer(rid, self.engine.unload)
                else:
                    self.send(rid, "error", f"Unknown request {op!r}")
            except OSError:  # the pipe to the app is gone
                return

    def _answer(self, rid: int, fn: Any, *args: Any) -> None:
        try:
            result = fn(*args)
        except EngineError as exc:
            self.send(rid, "error", str(exc))
        except Exception as exc:  # reported, never a crash of the runner
            self.send(rid, "error", f"{exc.__class__.__name__}: {exc}")
        else:
            self.send(rid, "ok", result)

    def _stream(self, rid: int, messages: list[Any], sampler: Any) -> None:
        gen = self.engine.stream_chat(messages, sampler, self._cancels[rid])

        def run() -> None:  # the whole loop on the llama thread: no thread handoff per token
            try:
                for chunk in gen:  # each carries the tokens of 1/25 s (LlamaThread.iterate gathers them here too)
                    self.send(rid, "chunk", (chunk.text, chunk.t, chunk.tokens))
            finally:
                gen.close()

        try:
            LlamaThread.shared().call(run)
        except OSError:  # the pipe to the app is gone: nobody to tell
            raise
        except Exception as exc:
            detail = str(exc) if isinstance(exc, EngineError) else f"Generation failed: {exc.__class__.__name__}: {exc}"
            gen.stats.stop_reason, gen.stats.error = StopReason.ERROR, detail
        finally:
            self._cancels.pop(rid, None)
        self.send(rid, "end", gen.stats)


def main() -> None:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # prints now go to stderr, never into the protocol
    try:
        EngineRunner(sys.stdin.buffer, out).serve()
    finally:
        os._exit(0)  # do not wait for llama.cpp's threads


if __name__ == "__main__":
    main()
