"""ProcessEngine: the Engine protocol over a child process that runs llama.cpp (an Ollama-style runner).

Why a process: on a small machine llama.cpp's threads and the UI share the cores. In one process they also share
the GIL: the decode loop needs it between tokens, so every millisecond the UI spends in Python stalls llama.cpp's
whole thread team. In a child the UI only costs its CPU time. A llama.cpp crash (an abort on a bad file, the
out-of-memory killer) also ends only the child: the app says what happened and keeps everything written.

Each `load` starts a fresh child (unloading ends it, so all of the model's memory goes back to the system).
"""

from __future__ import annotations

import collections
import itertools
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edgetui.core.engines.llama import Generation
from edgetui.core.gguf.files import check_gguf_file
from edgetui.core.types import (
    ChatMessage,
    Chunk,
    EngineError,
    GenerationStats,
    LoadOptions,
    ModelInfo,
    SamplerSettings,
    StopReason,
)

_POLL_S = 0.05  # how often a stream waiting for its next token looks at its cancel event


class RunnerDied(EngineError):
    """The runner process ended while a request waited for it."""


class _Runner:
    """One child process, the requests waiting for its replies, and the tail of its stderr."""

    def __init__(self, python: str) -> None:
        try:
            self.proc = subprocess.Popen(
                [python, "-m", "edgetui.core.engines.runner"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # the terminal's signals (Ctrl+C, hang-up) go to the app, which ends it
            )
        except OSError as exc:
            raise EngineError(f"Could not start the model process: {exc}") from exc
        self.pending: dict[int, queue.SimpleQueue[tuple[str, Any]]] = {}
        self.gone = ""  # why the runner ended, once it has
        self.stopping = False  # ended on purpose (unload)
        self.stderr: collections.deque[str] = collections.deque(maxlen=50)
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read_replies, name="runner-replies", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="runner-stderr", daemon=True).start()

    def request(self, op: str, args: Any) -> tuple[int, queue.SimpleQueue[tuple[str, Any]]]:
        rid = next(self._ids)
        box: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.pending[rid] = box
        try:
            self.send((rid, op, args))
        except EngineError:
            self.pending.pop(rid, None)
            raise
        if self.gone:  # it ended before this request was registered: the reader will not answer it
            box.put(("died", self.gone))
        return rid, box

    def send(self, message: tuple[int, str, Any]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
        except (OSError, ValueError) as exc:  # a closed or broken pipe: the runner is gone
            raise EngineError(self.gone or "The model process is not running; load the model again.") from exc

    def stop(self) -> None:
        """End the runner: EOF on its stdin, then a kill if it does not go within 5 s."""
        self.stopping = True
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def _read_replies(self) -> None:
        assert self.proc.stdout is not None
        while True:
            try:
                rid, kind, payload = pickle.load(self.proc.stdout)
            except Exception:  # EOF: the runner ended (or died); a garbled pipe is the same to us
                break
            box = self.pending.get(rid)
            if box is not None:
                box.put((kind, payload))
        code = self.proc.wait()
        self.gone = "The model was unloaded." if self.stopping else self._death_reason(code)
        for box in list(self.pending.values()):
            box.put(("died", self.gone))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self.stderr.append(text)

    def _death_reason(self, code: int) -> str:
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            how = f"was killed ({name}"
            how += ", perhaps by the out-of-memory killer)" if -code == signal.SIGKILL else ")"
        else:
            how = f"exited with code {code}"
        lines = list(self.stderr)
        telling = [line for line in lines if any(w in line.lower() for w in ("error", "assert", "abort"))]
        last = (telling or lines or [""])[-1]
        return f"The model process {how}" + (f": {last}" if last else "") + "."


class ProcessEngine:
    """A LlamaEngine in a child process (`python -m edgetui.core.engines.runner`), driven over a pipe."""

    def __init__(self) -> None:
        self._info: ModelInfo | None = None
        self._runner: _Runner | None = None

    @property
    def info(self) -> ModelInfo | None:
        runner = self._runner
        if runner is None or runner.gone:
            return None
        return self._info

    @property
    def pid(self) -> int | None:
        """The runner's process id while it runs (for the memory and CPU gauges)."""
        runner = self._runner
        return runner.proc.pid if runner is not None and not runner.gone else None

    # -- Engine protocol -----------------------------------------------------------------------------
    def load(self, path: str | Path, options: LoadOptions) -> ModelInfo:
        path = Path(path).expanduser()
        check_gguf_file(path)
        self.unload()
        self._runner = _Runner(sys.executable)
        try:
            info = self._call("load", (path, options))
        except RunnerDied as exc:
            self.unload()
            raise EngineError(f"llama.cpp could not load {path.name}: {exc}") from None
        except EngineError:
            self.unload()
            raise
        self._info = info
        return info

    def unload(self) -> None:
        runner, self._runner, self._info = self._runner, None, None
        if runner is not None:
            runner.stop()

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return int(self._call("count", list(messages)))

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event | None = None,
    ) -> Generation:
        cancel = cancel or threading.Event()
        return Generation(lambda stats: self._stream(list(messages), sampler, cancel, stats))

    # -- requests ------------------------------------------------------------------------------------
    def _live(self) -> _Runner:
        runner = self._runner
        if runner is None:
            raise EngineError("No model is loaded")
        return runner

    def _call(self, op: str, args: Any) -> Any:
        runner = self._live()
        rid, box = runner.request(op, args)
        try:
            kind, payload = box.get()
        finally:
            runner.pending.pop(rid, None)
        if kind == "died":
            raise RunnerDied(payload)
        if kind == "error":
            raise EngineError(payload)
        return payload

    def _stream(
        self,
        messages: list[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event,
        stats: GenerationStats,
    ) -> Iterator[Chunk]:
        try:
            runner = self._live()
            rid, box = runner.request("stream", (messages, sampler))
        except EngineError as exc:
            stats.stop_reason, stats.error = StopReason.ERROR, str(exc)
            return
        ended = asked = False
        try:
            while True:
                if cancel.is_set() and not asked:
                    self._ask_cancel(runner, rid)
                    asked = True
                try:
                    kind, payload = box.get(timeout=None if asked else _POLL_S)
                except queue.Empty:
                    continue
                if kind == "chunk":
                    yield Chunk(*payload)
                    continue
                ended = True
                if kind == "end":
                    stats.__dict__.update(payload.__dict__)
                else:  # "died" or "error"
                    stats.stop_reason, stats.error = StopReason.ERROR, payload
                return
        finally:
            if not ended:  # closed early (GeneratorExit): stop the runner's loop and take its record
                self._ask_cancel(runner, rid)
                while (item := box.get())[0] == "chunk":
                    pass
                if item[0] == "end":
                    stats.__dict__.update(item[1].__dict__)
                stats.stop_reason = StopReason.CANCELLED
            runner.pending.pop(rid, None)

    @staticmethod
    def _ask_cancel(runner: _Runner, rid: int) -> None:
        try:
            runner.send((0, "cancel", rid))
        except EngineError:
            pass  # the runner is gone: its "died" is on the way
