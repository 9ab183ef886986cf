"""BackgroundWrites: writes to the sessions database that nothing waits for (what the app remembers between runs, a
fit measurement), done in order on one thread, so that a database another process holds locked never freezes the
screen or holds up a model load."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from edgetui.core.store.store import Store, StoreError


class BackgroundWrites:
    """`submit(fn)` runs `fn(store)` on the writer thread, in the order submitted; a StoreError only means that this
    write did not happen (`failed` counts them). `close(timeout)` waits that long at most for what is queued."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.failed = 0
        self._queue: queue.Queue[Callable[[Store], Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="edgetui-db-writes", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Store], Any]) -> None:
        self._queue.put(fn)

    def set_state(self, key: str, value: Any) -> None:
        self.submit(lambda store: store.set_state(key, value))

    def close(self, timeout: float = 2.0) -> bool:
        """Stop after what is queued; True when it was all written within `timeout` s (a locked database: the
        rest is not remembered, and edgetui does not hang at quit)."""
        self._queue.put(None)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn(self.store)
            except StoreError:
                self.failed += 1
