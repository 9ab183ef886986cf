"""Messages that workers post to the UI thread, and that panes post up to the app (past tense: they report what
happened)."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from edgetui.core.types import GenerationStats


class ModelLoadFailed(Message):
    def __init__(self, path: str, error: str) -> None:
        super().__init__()
        self.path = path
        self.error = error


class TextStreamed(Message, bubble=False):
    """A batch of streamed text (the worker coalesces tokens so the UI gets ~25 updates a second at most); it does
    not bubble: only the chat pane handles it, and each extra hop costs the UI thread time while tokens stream."""

    def __init__(self, generation_id: int, text: str, tokens: int, t: float) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.text = text
        self.tokens = tokens
        self.t = t


class GenerationFinished(Message):
    def __init__(self, generation_id: int, text: str, stats: GenerationStats) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.text = text
        self.stats = stats


class AnswerEnded(Message):
    """The chat's answer ended (finished, stopped or failed) and is shown whole: its figures, for the gauges."""

    def __init__(self, stats: GenerationStats) -> None:
        super().__init__()
        self.stats = stats


class ContextMeasured(Message):
    """How many tokens the conversation takes, against the context size (the chat pane's status line shows it, and
    the app's gauges once it bubbles up)."""

    def __init__(self, used: int, n_ctx: int) -> None:
        super().__init__()
        self.used = used
        self.n_ctx = n_ctx

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ContextMeasured)


class MetricsSampled(Message):
    """A gauge sample; a newer one replaces an older one still queued."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, MetricsSampled)


class TurnSaved(Message):
    """The user's message and the empty answer were committed to the database."""

    def __init__(self, generation_id: int, user_id: int | None, answer_id: int) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.user_id = user_id
        self.answer_id = answer_id


class TurnSaveFailed(Message):
    """The turn could not be saved, so it was not sent; the prompt goes back into the box."""

    def __init__(self, generation_id: int, error: str, prompt: str) -> None:
        super().__init__()
        self.generation_id = generation_id
        self.error = error
        self.prompt = prompt


class SessionShown(Message):
    """The chat shows another session (None: a new, empty one, not in the database yet)."""

    def __init__(self, session_id: int | None) -> None:
        super().__init__()
        self.session_id = session_id


class UnsavedAnswersTried(Message):
    """Answers the database could not take were tried again: `saved` of them are in it now, `left` are not."""

    def __init__(self, saved: int, left: int, error: str = "") -> None:
        super().__init__()
        self.saved = saved
        self.left = left
        self.error = error
