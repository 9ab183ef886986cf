"""The chat pane: the conversation, the prompt box, and the generation worker that streams answers into it."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from edgetui.core.types import ChatMessage, EngineError, GenerationStats, StopReason
from edgetui.ui.messages import ContextMeasured, GenerationFinished, TextStreamed
from edgetui.ui.widgets.message_view import MessageView, stats_line
from edgetui.ui.widgets.prompt_input import PromptInput

if TYPE_CHECKING:
    from edgetui.ui.app import EdgeApp

FLUSH_S = 1 / 30  # the worker hands text to the UI at most ~30 times a second
LOW_REDRAW_FLUSH_S = 0.25


class ChatPane(Vertical):
    """Shows one conversation; Enter sends, Escape stops; answers stream in from a thread worker."""

    generating: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history: list[ChatMessage] = []
        self._generation_id = 0
        self._cancel: threading.Event | None = None
        self._answer: MessageView | None = None
        self._context_used = 0

    @property
    def edge(self) -> EdgeApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield VerticalScroll(id="messages")
        yield Static("", id="chat-status")
        yield PromptInput(
            id="prompt", placeholder="Type a message · Enter sends · Ctrl+J newline · Esc stops"
        )

    def on_mount(self) -> None:
        self.query_one("#messages", VerticalScroll).anchor()
        self.query_one(PromptInput).focus()

    # -- status line ----------------------------------------------------------------------------------
    def set_status(self, text: str, *, warn: bool = False) -> None:
        status = self.query_one("#chat-status", Static)
        status.update(text)
        status.set_class(warn, "-warn")

    def refresh_status(self) -> None:
        info = self.edge.engine.info
        if info is None:
            return
        fill = f"context {self._context_used}/{info.n_ctx}"
        state = "generating… (Esc stops)" if self.generating else "ready"
        self.set_status(f"{info.name} · {info.quant or '?'} · {fill} · {state}")

    # -- conversation ---------------------------------------------------------------------------------
    async def add_message(self, role: str, text: str = "") -> MessageView:
        view = MessageView(role, text)
        await self.query_one("#messages", VerticalScroll).mount(view)
        return view

    async def add_notice(self, text: str) -> None:
        await self.add_message("notice", text)

    async def clear(self) -> None:
        self.stop()
        self.history.clear()
        self._context_used = 0
        await self.query_one("#messages", VerticalScroll).remove_children()
        self.refresh_status()

    def conversation(self) -> list[ChatMessage]:
        system = self.edge.config.system_prompt
        head = [ChatMessage("system", system)] if system else []
        return head + self.history

    @on(PromptInput.Submitted)
    async def _submitted(self, event: PromptInput.Submitted) -> None:
        event.stop()
        text = event.text.strip()
        if not text:
            return
        if self.generating:
            self.app.bell()
            self.set_status("Still answering: press Esc to stop first.", warn=True)
            return
        if self.edge.engine.info is None:
            self.set_status(
                "No model is loaded yet: pick one in the catalog (Enter) and try again.", warn=True
            )
            return
        event.prompt_input.clear()
        await self.send(text)

    async def send(self, text: str) -> None:
        self.history.append(ChatMessage("user", text))
        await self.add_message("user", text)
        await self._start_answer()

    async def _start_answer(self) -> None:
        self._generation_id += 1
        self._cancel = threading.Event()
        self._answer = await self.add_message("assistant")
        self._answer.set_footer("…")
        self.generating = True
        self.edge.token_rate_reset()
        self.generate(self._generation_id, self.conversation(), self._cancel)

    def stop(self) -> bool:
        """Stop the answer being generated (the partial text stays, marked stopped)."""
        if self._cancel is not None and self.generating:
            self._cancel.set()
            return True
        return False

    # -- the worker: a thin wrapper over Engine.stream_chat -----------------------------------------------
    @work(thread=True, exclusive=True, group="generate")
    def generate(self, generation_id: int, messages: list[ChatMessage], cancel: threading.Event) -> None:
        engine = self.edge.engine
        flush_s = LOW_REDRAW_FLUSH_S if self.edge.config.low_redraw else FLUSH_S
        parts: list[str] = []
        pending: list[str] = []
        tokens = 0
        last = time.perf_counter()
        gen = None
        try:
            gen = engine.stream_chat(messages, self.edge.sampler, cancel)
            for chunk in gen:
                pending.append(chunk.text)
                tokens += chunk.tokens
                if chunk.t - last >= flush_s:
                    text = "".join(pending)
                    parts.append(text)
                    self.post_message(TextStreamed(generation_id, text, tokens, chunk.t))
                    pending.clear()
                    tokens = 0
                    last = chunk.t
            stats = gen.stats
        except EngineError as exc:
            stats = GenerationStats(stop_reason=StopReason.ERROR, error=str(exc))
        except Exception as exc:  # never let a traceback reach the user
            stats = GenerationStats(stop_reason=StopReason.ERROR, error=f"{exc.__class__.__name__}: {exc}")
        if pending:
            text = "".join(pending)
            parts.append(text)
            self.post_message(TextStreamed(generation_id, text, tokens, time.perf_counter()))
        self.post_message(GenerationFinished(generation_id, "".join(parts), stats))
        try:
            used = engine.count_tokens([*messages, ChatMessage("assistant", "".join(parts))])
            info = engine.info
            self.post_message(ContextMeasured(used, info.n_ctx if info else 0))
        except Exception:
            pass

    async def on_text_streamed(self, message: TextStreamed) -> None:
        if message.generation_id != self._generation_id or self._answer is None:
            return
        self.edge.token_rate_add(message.t, message.tokens)
        await self._answer.append(message.text)

    async def on_generation_finished(self, message: GenerationFinished) -> None:
        if message.generation_id != self._generation_id or self._answer is None:
            return
        answer, stats = self._answer, message.stats
        await answer.finish()
        self.generating = False
        self._cancel = None
        if message.text or stats.stop_reason is not StopReason.ERROR:
            self.history.append(ChatMessage("assistant", message.text))
        footer, warn = stats_line(stats), False
        if stats.stop_reason is StopReason.CANCELLED:
            footer, warn = f"stopped · {footer}", True
        elif stats.stop_reason is StopReason.ERROR:
            footer, warn = f"error: {stats.error}", True
        elif stats.note:
            footer, warn = f"{stats.note} · {footer}", True
        answer.set_footer(footer, warn=warn)
        if not message.text and stats.stop_reason is StopReason.EOS:
            await answer.replace_text("*(empty answer)*")
        self.edge.generation_finished(stats)
        self.refresh_status()

    def on_context_measured(self, message: ContextMeasured) -> None:
        self._context_used = message.used
        self.refresh_status()

    def watch_generating(self, generating: bool) -> None:
        if self.is_mounted:
            self.refresh_status()
