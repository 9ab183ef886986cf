"""Conversation: one chat session's active branch, streamed answers saved as they arrive, branching."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from edgetui.core.chat.answer_saver import AnswerSaver
from edgetui.core.engines.llama import Engine
from edgetui.core.store.records import StoredMessage, answer_status, run_record
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import ChatMessage, EngineError, GenerationStats, SamplerSettings, StopReason

SAVE_EVERY_S = 1.0  # a streaming answer is written to the database at least this often
OnText = Callable[[str, int, float], None]  # (text batch, tokens in it, perf_counter time)


@dataclass
class Answer:
    """The outcome of one generated answer."""

    message_id: int | None
    text: str
    stats: GenerationStats
    run_id: int | None = None
    save_error: str = ""


@dataclass
class Conversation:
    """The active branch (root → leaf) of a session; every write goes through the thread-safe Store."""

    store: Store
    session_id: int | None = None
    thread: list[StoredMessage] = field(default_factory=list)
    system_prompt: str = ""
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    skip_turns: int = 0  # oldest user/assistant pairs left out of the model's context (still saved)
    drop_oldest: bool = False  # when the context is full, leave the oldest turns out without asking
    save_error: str = ""

    # -- sessions -----------------------------------------------------------------------------------
    @classmethod
    def open(cls, store: Store, session_id: int) -> Conversation:
        session = store.get_session(session_id)
        if session is None:
            raise StoreError(f"There is no session {session_id}")
        sampler = SamplerSettings().updated(session.sampler)
        conv = cls(store, session_id, system_prompt=session.system_prompt, sampler=sampler)
        conv.drop_oldest = session.drop_oldest
        conv.thread = store.thread(session_id)
        return conv

    def set_drop_oldest(self, drop: bool) -> None:
        """From now on, a full context leaves this session's oldest turns out without asking (kept in its row)."""
        self.drop_oldest = drop
        if self.session_id is not None:
            self.store.set_drop_oldest(self.session_id, drop)

    def ensure_session(self, model_path: str | Path = "", model_name: str = "") -> int:
        if self.session_id is None:
            self.session_id = self.store.create_session(
                model_path=str(model_path),
                model_name=model_name,
                system_prompt=self.system_prompt,
                sampler=self.sampler,
            )
        return self.session_id

    def set_settings(self, system_prompt: str, sampler: SamplerSettings) -> None:
        self.system_prompt, self.sampler = system_prompt, sampler
        if self.session_id is not None:
            self.store.set_system_prompt(self.session_id, system_prompt)
            self.store.set_sampler(self.session_id, sampler)

    # -- what the model sees --------------------------------------------------------------------------
    def model_messages(self, extra: list[ChatMessage] | None = None) -> list[ChatMessage]:
        """System prompt + the active branch (minus skipped oldest turns and failed empty answers)."""
        msgs = [
            ChatMessage(m.role, m.content)
            for m in self.thread
            if m.role in ("user", "assistant") and (m.content or m.role == "user")
        ]
        if self.skip_turns:
            users = [i for i, m in enumerate(msgs) if m.role == "user"]
            msgs = msgs[users[self.skip_turns] :] if self.skip_turns < len(users) else []
        head = [ChatMessage("system", self.system_prompt)] if self.system_prompt else []
        return head + msgs + (extra or [])

    def turns(self) -> int:
        return sum(1 for m in self.thread if m.role == "user")

    def unseen_ids(self) -> set[int]:
        """The messages of the thread that the model no longer sees (the `skip_turns` oldest turns)."""
        if not self.skip_turns:
            return set()
        users = [i for i, m in enumerate(self.thread) if m.role == "user"]
        end = users[self.skip_turns] if self.skip_turns < len(users) else len(self.thread)
        return {m.id for m in self.thread[:end]}

    # -- writing a turn -------------------------------------------------------------------------------
    def add_user(self, text: str, *, parent_id: int | None = -1, model_path: str = "", model_name: str = "") -> int:
        """Save the user's message (committed before generation starts) as a child of `parent_id`.

        parent_id -1 means "after the current leaf"; a parent earlier in the thread starts a new branch there.
        """
        if self.store.unsaved:  # an earlier answer the disk had no room for: first try it again
            try:
                self.store.save_unsaved()
            except StoreError:
                pass
        sid = self.ensure_session(model_path, model_name)
        if parent_id == -1:
            parent_id = self.thread[-1].id if self.thread else None
        mid = self.store.add_message(sid, "user", text, parent_id)
        self._cut_after(parent_id)
        self.thread.append(self._stored(mid))
        return mid

    def begin_answer(self, model: str = "") -> int:
        """An empty 'streaming' answer under the last message of the thread."""
        sid = self.ensure_session()
        parent = self.thread[-1].id if self.thread else None
        mid = self.store.start_answer(sid, parent, model)
        self.thread.append(self._stored(mid))
        return mid

    def stream_answer(
        self,
        engine: Engine,
        answer_id: int,
        cancel: threading.Event,
        on_text: OnText | None = None,
        *,
        flush_s: float = 1 / 30,
        save_every_s: float = SAVE_EVERY_S,
    ) -> Answer:
        """Generate into `answer_id`: text batches go to `on_text`, the database gets it at least once a second."""
        import psutil

        proc = psutil.Process()
        peak_rss = proc.memory_info().rss
        messages = self.model_messages()  # the empty answer being written is left out
        parts: list[str] = []
        pending: list[str] = []
        tokens = 0
        last_flush = last_save = time.perf_counter()
        saver = AnswerSaver(self.store, answer_id)  # (a locked database: the stream goes on, the save waits)
        try:
            gen = engine.stream_chat(messages, self.sampler, cancel)
            for chunk in gen:
                pending.append(chunk.text)
                tokens += chunk.tokens
                if chunk.t - last_flush >= flush_s:
                    batch = "".join(pending)
                    parts.append(batch)
                    pending.clear()
                    if on_text:
                        on_text(batch, tokens, chunk.t)
                    tokens, last_flush = 0, chunk.t
                if chunk.t - last_save >= save_every_s:
                    last_save = chunk.t
                    peak_rss = max(peak_rss, proc.memory_info().rss)
                    saver.offer("".join(parts) + "".join(pending))
            stats = gen.stats
        except EngineError as exc:
            stats = GenerationStats(stop_reason=StopReason.ERROR, error=str(exc))
        except Exception as exc:  # never let a traceback reach the user
            stats = GenerationStats(stop_reason=StopReason.ERROR, error=f"{exc.__class__.__name__}: {exc}")
        finally:
            saver.close()
        if pending:
            batch = "".join(pending)
            parts.append(batch)
            if on_text:
                on_text(batch, tokens, time.perf_counter())
        save_error = saver.error
        text = "".join(parts)
        peak_rss = max(peak_rss, proc.memory_info().rss)
        record = run_record(stats, engine.info, self.sampler, peak_rss=peak_rss)
        run_id = None
        try:
            run_id = self.store.finish_answer(answer_id, text, answer_status(stats.stop_reason), record)
            save_error = ""  # saved whole: a periodic save that failed on the way no longer matters
        except StoreError as exc:  # the store keeps the whole answer and saves it once it can (save_unsaved)
            save_error = str(exc)
        self.save_error = save_error
        self._replace(answer_id, text, answer_status(stats.stop_reason))
        return Answer(answer_id, text, stats, run_id, save_error)

    # -- branching --------------------------------------------------------------------------------------
    def regenerate_point(self) -> int | None:
        """Cut the thread after the last user message (its answers stay stored as siblings); return its id."""
        for i in range(len(self.thread) - 1, -1, -1):
            if self.thread[i].role == "user":
                del self.thread[i + 1 :]
                return self.thread[i].id
        return None

    def edit_point(self, message_id: int) -> tuple[int | None, str]:
        """Where an edited user message goes: (its parent id, its old text); the thread is cut before it."""
        for i, m in enumerate(self.thread):
            if m.id == message_id:
                del self.thread[i:]
                return m.parent_id, m.content
        raise StoreError(f"Message {message_id} is not in this conversation")

    def branches(self, message_id: int) -> tuple[int, int]:
        """(1-based position of this message among its siblings, number of siblings)."""
        sibs = self.store.siblings(message_id)
        return (sibs.index(message_id) + 1 if message_id in sibs else 1), max(len(sibs), 1)

    def switch_branch(self, message_id: int, step: int) -> bool:
        """Show the previous (-1) or next (+1) sibling branch at `message_id`; False when there is none."""
        sibs = self.store.siblings(message_id)
        if message_id not in sibs:
            return False
        j = sibs.index(message_id) + step
        if not 0 <= j < len(sibs) or self.session_id is None:
            return False
        leaf = self.store.latest_leaf(sibs[j])
        self.store.set_current(self.session_id, leaf)
        self.thread = self.store.thread(self.session_id, leaf)
        return True

    # -- helpers ------------------------------------------------------------------------------------------
    def _stored(self, message_id: int) -> StoredMessage:
        msg = self.store.message(message_id)
        if msg is None:
            raise StoreError(f"Message {message_id} vanished from the database")
        return msg

    def _cut_after(self, parent_id: int | None) -> None:
        """Keep the thread up to and including `parent_id` (a new branch starts after it)."""
        if parent_id is None:
            self.thread.clear()
            return
        for i, m in enumerate(self.thread):
            if m.id == parent_id:
                del self.thread[i + 1 :]
                return

    def _replace(self, message_id: int, text: str, status: str) -> None:
        for i, m in enumerate(self.thread):
            if m.id == message_id:
                self.thread[i] = StoredMessage(**{**m.as_dict(), "content": text, "status": status})
