"""Messages the compare screen's workers post to the UI thread (each carries the run it belongs to)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class CompareEvent(Message):
    """One event of Compare's on_event for a side: 'loading', 'loaded', 'text' (coalesced chunks), 'finished'."""

    def __init__(self, run_id: int, side: str, kind: str, payload: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.side = side
        self.kind = kind
        self.payload = payload


class ComparePrepared(Message):
    """The Compare object exists (its memory plan is known); nothing is loaded yet."""

    def __init__(self, run_id: int, compare: Any) -> None:
        super().__init__()
        self.run_id = run_id
        self.compare = compare


class CompareTurnDone(Message):
    """A turn through both models ended (complete or cancelled); `saved` is the store outcome."""

    def __init__(self, run_id: int, result: Any, session_id: int | None, save_error: str = "") -> None:
        super().__init__()
        self.run_id = run_id
        self.result = result
        self.session_id = session_id
        self.save_error = save_error


class CompareFailed(Message):
    """A turn or a quality measurement failed with a message for the user."""

    def __init__(self, run_id: int, error: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.error = error


class QualityProgressed(Message):
    def __init__(self, run_id: int, done: int, total: int) -> None:
        super().__init__()
        self.run_id = run_id
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QualityProgressed)


class QualityDone(Message):
    """The quality report (None when cancelled before the first chunk), and whether it was cancelled."""

    def __init__(self, run_id: int, report: Any, cancelled: bool, session_id: int | None, save_error: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.report = report
        self.cancelled = cancelled
        self.session_id = session_id
        self.save_error = save_error


class ModelsFound(Message):
    """The default pair: A (the chat's model or the default one) and B (a sibling quantization), either may be None."""

    def __init__(self, path_a: Any, path_b: Any, candidates: list[Any]) -> None:
        super().__init__()
        self.path_a = path_a
        self.path_b = path_b
        self.candidates = candidates
