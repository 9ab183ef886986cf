"""AnswerSaver: the periodic saves of a streaming answer, on their own thread, so that a database that is locked by
another process or slow to write never holds up the stream."""

from __future__ import annotations

import threading

from edgetui.core.store.store import Store, StoreError


class AnswerSaver:
    """Saves the newest text `offer`ed for one answer, one write at a time; a text offered while a write waits
    replaces the one before it (only the newest matters). `close` stops it without waiting for a write in
    progress: a late write of older text is harmless, since the store only updates an answer that is still
    streaming."""

    def __init__(self, store: Store, answer_id: int) -> None:
        self.store = store
        self.answer_id = answer_id
        self.error = ""  # the last save's failure, '' once a save went through
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._text: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="edgetui-answer-saver", daemon=True)
        self._thread.start()

    def offer(self, text: str) -> None:
        with self._lock:
            self._text = text
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            self._closed, self._text = True, None
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end (tests); True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                text, self._text = self._text, None
                self._wake.clear()
                closed = self._closed
            if closed:
                return
            if text is None:
                continue
            try:
                self.store.update_answer(self.answer_id, text)
                if self.store.unsaved:  # there is room again: an earlier answer that had none
                    self.store.save_unsaved()
                self.error = ""
            except StoreError as exc:
                self.error = str(exc)
