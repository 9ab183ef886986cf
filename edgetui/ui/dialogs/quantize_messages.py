"""Messages that the quantize dialog's worker posts to the UI thread (past tense)."""

from __future__ import annotations

from pathlib import Path

from textual.message import Message


class QuantizeProgressed(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuantizeProgressed)


class QuantizeFinished(Message):
    """The quantizer ended: `path` is the new file, or None with `error` (and `cancelled`)."""

    def __init__(self, path: Path | None, error: str = "", cancelled: bool = False) -> None:
        super().__init__()
        self.path, self.error, self.cancelled = path, error, cancelled
