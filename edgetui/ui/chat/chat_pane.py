"""The chat pane: the active branch of a session, the prompt box, and the worker that streams answers in."""

from __future__ import annotations

import threading
from typing import Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from edgetui.core.chat.conversation import Conversation
from edgetui.core.chat.stats_text import answer_footer
from edgetui.core.engines.llama import FLUSH_S, Engine
from edgetui.core.store.store import StoreError
from edgetui.core.types import ChatMessage, StopReason
from edgetui.core.visible_text import visible
from edgetui.ui.chat.chat_history import ChatHistory, EarlierMarker
from edgetui.ui.chat.message_list import MessageList
from edgetui.ui.chat.message_view import MessageView, code_blocks
from edgetui.ui.chat.prompt_input import PromptInput
from edgetui.ui.messages import (
    AnswerEnded,
    ContextMeasured,
    GenerationFinished,
    SessionShown,
    TextStreamed,
    TurnSaved,
    TurnSaveFailed,
)

# Text reaches the screen at most every FLUSH_S (core/engines/llama.py: derived from the engine's GATHER_S).
LOW_REDRAW_FLUSH_S = 0.25


class ChatHost(Protocol):
    """What the chat pane needs of its owner (the app), read each time it is needed."""

    @property
    def engine(self) -> Engine:
        """The engine that answers now: another one once another model is loaded."""
        ...

    def token_rate_start(self) -> None:
        """An answer starts: its token rate from zero."""
        ...

    def token_rate_add(self, t: float, tokens: int) -> None:
        """`tokens` more of the answer reached the screen (on the UI thread, as each batch is shown)."""
        ...


class ChatPane(Vertical):
    """Shows one conversation; Enter sends, Escape stops; answers stream in from a thread worker.

    The keys of a focused message (copy it or its code, edit and resend, regenerate, switch branch) act here; how
    much of the conversation is mounted is its `ChatHistory`'s business. The engine and the token rate come from
    `host`; what the app shows elsewhere it learns from messages: `SessionShown`, `ContextMeasured`, `AnswerEnded`.
    """

    BINDINGS = [
        Binding("c", "copy_message", "Copy", show=False),
        Binding("k", "copy_code", "Copy code", show=False),
        Binding("e", "edit_message", "Edit", show=False),
        Binding("r", "regenerate_message", "Regenerate", show=False),
        Binding("left", "branch(-1)", "Prev branch", show=False),
        Binding("right", "branch(1)", "Next branch", show=False),
        Binding("up", "focus_message(-1)", show=False),
        Binding("down", "focus_message(1)", show=False),
        # from the prompt too (it leaves these keys to the pane; Home/End when it is empty)
        Binding("pageup", "scroll_conversation('page_up')", show=False),
        Binding("pagedown", "scroll_conversation('page_down')", show=False),
        Binding("home,ctrl+home", "scroll_conversation('home')", show=False),
        Binding("end,ctrl+end", "scroll_conversation('end')", show=False),
    ]
    # keys of a focused message: with the focus anywhere else (the prompt, the conversation as a whole) they do nothing
    MESSAGE_ACTIONS = frozenset({"copy_message", "copy_code", "edit_message", "regenerate_message", "branch"})

    generating: reactive[bool] = reactive(False)

    def __init__(
        self, conversation: Conversation, host: ChatHost, *, low_redraw: bool = False, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.conv = conversation
        self.host = host
        self.low_redraw = low_redraw  # (config.toml's: text reaches the screen less often)
        self.history = ChatHistory(MessageList(id="messages"))
        self._generation_id = 0
        self._cancel: threading.Event | None = None
        self.answer_saved = threading.Event()  # clear while an answer streams; set once it is in the database
        self.answer_saved.set()
        self._answer: MessageView | None = None
        self._user_view: MessageView | None = None
        self._edit_id: int | None = None  # the user message being edited (resent as a new sibling)
        self._code_index = 0
        self.context_used = 0

    def compose(self) -> ComposeResult:
        yield self.history.messages
        with Vertical(id="prompt-box"):  # its own box: a repaint among the messages does not redraw the prompt
            yield Static("", id="chat-status", markup=False)
            yield PromptInput(id="prompt", placeholder="Message · Enter sends · Ctrl+J new line")

    async def on_mount(self) -> None:
        self.message_list.anchor()
        self.focus_prompt()
        await self.render_thread()

    @property
    def prompt(self) -> PromptInput:
        return self.query_one("#prompt", PromptInput)

    def focus_prompt(self) -> None:
        """Now, not after the keys already queued (as `focus()` would): they are typed into the prompt."""
        for prompt in self.query("#prompt").results(PromptInput):  # (none while the pane is taken down)
            self.screen.set_focus(prompt, scroll_visible=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A message's keys act on a focused message only: a stray `r` in the conversation regenerates nothing."""
        if action in self.MESSAGE_ACTIONS or action == "focus_message":
            return self.focused_message() is not None
        return True

    def action_scroll_conversation(self, how: str) -> None:
        lst = self.message_list
        if how == "home":
            lst.scroll_home(animate=False)
        elif how == "end":
            lst.scroll_end(animate=False)  # (and follows the end again)
        elif how == "page_up":
            lst.scroll_page_up(animate=False)
        else:
            lst.scroll_page_down(animate=False)

    # -- status line ----------------------------------------------------------------------------------
    def set_status(self, text: str, *, warn: bool = False) -> None:
        status = self.query_one("#chat-status", Static)
        status.update(visible(text))  # (what a server or the database said, at times)
        status.set_class(warn, "-warn")

    def refresh_status(self) -> None:
        """Context use and what the chat is doing, short enough for one line in a narrow pane (the model's name is
        in the header); a long one (an error, editing, turns left out) wraps instead of being cut off."""
        info = self.host.engine.info
        if info is None:
            return
        parts = [f"ctx {self.context_used}/{info.n_ctx}"]
        if self.conv.skip_turns:
            turns = self.conv.skip_turns
            parts.append(f"{turns} oldest turn{'s' if turns != 1 else ''} left out")
        if self._edit_id is not None:  # ("answering… Esc stops" is the answer's own footer: the line stays as tall)
            parts.append("editing: Enter resends as a new branch, Esc cancels")
        if not self.conv.store.persistent:
            parts.append("not saved")
        if self.conv.save_error:
            self.set_status(self.conv.save_error, warn=True)
            return
        self.set_status(" · ".join(parts))

    def unsaved_answers_saved(self, count: int) -> None:
        """Answers kept in memory while the disk was full are in the database now: the notice goes."""
        self.conv.save_error = ""
        what = "The answer kept in memory is" if count == 1 else f"The {count} answers kept in memory are"
        self.set_status(f"Saved: {what} in the database now.")

    # -- rendering ------------------------------------------------------------------------------------
    @property
    def message_list(self) -> MessageList:
        return self.history.messages

    def views(self) -> list[MessageView]:
        return self.history.views()

    @property
    def hidden(self) -> int:
        """How many of the thread's messages, from its start, are not mounted."""
        return self.history.hidden

    async def render_thread(self, *, keep: bool = False) -> None:
        """Show the conversation's active branch (after opening a session, switching branch, ...); with `keep`, at
        least as many messages as before (a message the user went back to stays)."""
        await self.history.render(self.conv, keep=keep)
        self.refresh_status()

    async def show_earlier(self, count: int | None = None) -> int:
        """Mount up to `count` earlier messages above the first one shown; returns how many."""
        return await self.history.show_earlier(self.conv, count)

    async def on_message_list_reached_top(self) -> None:
        await self.show_earlier()

    def on_earlier_marker_clicked(self, message: EarlierMarker.Clicked) -> None:
        message.stop()
        self.run_worker(self.show_earlier(), group="earlier")  # not exclusive: a cancel mid-mount loses messages

    async def add_notice(self, text: str) -> None:
        await self.message_list.mount(MessageView("notice", text))

    def _leave_answer(self) -> None:
        """Another conversation takes the pane: the answer being written stops (its worker still saves it in its own
        session), and what that worker posts from now on is ignored."""
        self.stop()
        if self.generating:
            self._generation_id += 1
            self._cancel = None
            self.generating = False
        self._answer = self._user_view = None

    async def new_session(self, conversation: Conversation) -> None:
        """Show an empty `conversation` (a session is created in the database with its first message)."""
        self._leave_answer()
        self.conv = conversation
        self.context_used = 0
        self._cancel_edit()
        self._remember_session()
        await self.render_thread()

    async def open_session(self, conversation: Conversation) -> None:
        self._leave_answer()
        self.conv = conversation
        self._cancel_edit()
        self._remember_session()
        await self.render_thread()
        self.measure_context()

    def _remember_session(self) -> None:
        """The session shown is the one a restart opens again (an empty one: none)."""
        self.post_message(SessionShown(self.conv.session_id))

    # -- sending ----------------------------------------------------------------------------------------
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
        if self.host.engine.info is None:
            self.set_status("No model is loaded yet: pick one in the catalog (Enter) and try again.", warn=True)
            return
        self.submit(text)

    @work(exclusive=True, group="submit")
    async def submit(self, text: str) -> None:
        """Check the context, ask about dropping old turns if needed, then send (an async UI worker)."""
        if not await self._fits_or_trim(text):
            return
        info = self.host.engine.info
        if info is not None:  # what the turn takes of the context, measured just now: the status line and gauges
            self.post_message(ContextMeasured(self.context_used, info.n_ctx))
        self.query_one(PromptInput).clear()
        parent: int | None = -1
        if self._edit_id is not None:
            try:
                parent, _ = self.conv.edit_point(self._edit_id)
            except StoreError:
                parent = -1
            self._cancel_edit()
            await self.render_thread(keep=True)
        await self.send(text, parent_id=parent)

    async def _fits_or_trim(self, text: str) -> bool:
        """Check the next turn fits the context; when it does not, leave the oldest turns out of what the model sees
        (asking first, unless the session said "always")."""
        from edgetui.ui.dialogs.confirm_dialog import ALWAYS, ConfirmDialog

        info = self.host.engine.info
        if info is None or not info.n_ctx:
            return True
        conv = self.conv
        reserve = min(conv.sampler.max_tokens, max(64, info.n_ctx // 8))
        try:
            need = self.host.engine.count_tokens(conv.model_messages([ChatMessage("user", text)])) + reserve
        except Exception:
            return True
        self.context_used = need - reserve  # what this turn's prompt takes, until the answer is measured
        if need <= info.n_ctx:
            return True
        if not conv.drop_oldest:
            body = (
                f"This turn needs about {need} tokens (with room for the answer) but the context holds {info.n_ctx}."
                "\nLeave the oldest turns out of what the model sees? They stay saved in the session."
            )
            dialog = ConfirmDialog("Context full", body, yes="Drop oldest turns", always="Always for this session")
            answer = await self.app.push_screen_wait(dialog)
            if not answer:
                self.set_status("Not sent: the conversation does not fit the context.", warn=True)
                return False
            if answer == ALWAYS:
                try:
                    conv.set_drop_oldest(True)
                except StoreError:
                    conv.drop_oldest = True  # for as long as the session is open
        skipped = conv.skip_turns
        while conv.skip_turns < conv.turns():
            conv.skip_turns += 1
            msgs = conv.model_messages([ChatMessage("user", text)])
            used = self.host.engine.count_tokens(msgs)
            if used + reserve <= info.n_ctx:
                self.context_used = used
                self.mark_unseen()
                return True
        conv.skip_turns = skipped
        self.set_status(
            "Even alone, this prompt does not fit the context: shorten it or load a larger context.", warn=True
        )
        return False

    def mark_unseen(self) -> None:
        """Mark the messages the model no longer sees (left out when the context was full)."""
        self.history.mark_unseen(self.conv)

    async def send(self, text: str, parent_id: int | None = -1) -> None:
        self._user_view = MessageView("user", text)
        await self.message_list.mount(self._user_view)
        await self._start_answer(text, parent_id)

    async def _start_answer(self, user_text: str | None, parent_id: int | None = -1) -> None:
        # From any scroll position (the wheel released the anchor): the list follows its end again, so the question
        # moves to the top of the view with its answer's room below it.
        self.message_list.scroll_end(animate=False)
        self._generation_id += 1
        self._cancel = threading.Event()
        self.answer_saved.clear()
        if self._answer is not None:
            self._answer.release_room()
        self._answer = answer = MessageView("assistant")
        await self.message_list.mount(answer)
        answer.set_footer("answering… Esc stops")
        self.generating = True
        self.host.token_rate_start()
        gid, cancel, conv = self._generation_id, self._cancel, self.conv

        def begin() -> None:  # once the answer is laid out: its room is laid out while the prompt is read
            if not begun:
                begun.append(True)
                answer.make_room()
                self.generate(conv, gid, user_text, parent_id, cancel)  # (the session it was asked in)

        begun: list[bool] = []
        self.call_after_refresh(begin)
        self.set_timer(0.25, begin)  # in case that refresh never comes (its screen was taken down first)

    def stop(self) -> bool:
        """Stop the answer being generated (the partial text stays, marked stopped)."""
        if self._cancel is not None and self.generating:
            self._cancel.set()
            return True
        return False

    # -- what can be done to a message: copy it or its code, edit and resend, regenerate, switch branch ------
    def focused_message(self) -> MessageView | None:
        focused = self.screen.focused
        return focused if isinstance(focused, MessageView) else None

    def last_view(self, role: str) -> MessageView | None:
        views = [v for v in self.views() if v.role == role]
        return views[-1] if views else None

    async def action_focus_message(self, step: int) -> None:
        views = self.views()
        current = self.focused_message()
        if not views or current is None:
            return
        if current is views[0] and step < 0:
            await self.show_earlier()  # (or waits for a scroll to the top that is showing them)
            views = self.views()
        i = max(0, min(len(views) - 1, views.index(current) + step))
        # Now, not after the queued keys (as `focus()` would): a held ↑ moves one message per key press.
        self.screen.set_focus(views[i])  # (and scrolls it into view)

    def copy(self, view: MessageView | None, code: bool = False) -> None:
        if view is None:
            self.set_status("Nothing to copy yet.", warn=True)
            return
        text = view.text
        if code:
            blocks = code_blocks(text)
            if not blocks:
                self.set_status("That message has no code block.", warn=True)
                return
            text = blocks[self._code_index % len(blocks)]
            self._code_index += 1
        self.app.copy_to_clipboard(text)
        what = "code block" if code else "message"
        self.app.notify(f"Copied the {what} ({len(text)} characters) to the clipboard.", timeout=2)

    def action_copy_message(self) -> None:
        self.copy(self.focused_message())

    def action_copy_code(self) -> None:
        self.copy(self.focused_message(), code=True)

    async def action_edit_message(self) -> None:
        view = self.focused_message()
        await self.edit(view if view is not None and view.role == "user" else self.last_view("user"))

    async def edit(self, view: MessageView | None) -> None:
        if self.generating or view is None or view.message_id is None:
            self.set_status("Nothing to edit yet." if view is None else "Wait for the answer to finish.", warn=True)
            return
        msg = self.conv.store.message(view.message_id)
        if msg is None:
            return
        self._edit_id = msg.id
        prompt = self.query_one(PromptInput)
        prompt.text = msg.content
        prompt.focus()
        prompt.move_cursor(prompt.document.end)
        self.refresh_status()

    def _cancel_edit(self) -> bool:
        editing = self._edit_id is not None
        self._edit_id = None
        return editing

    def cancel_edit(self) -> bool:
        if self._cancel_edit():
            self.query_one(PromptInput).clear()
            self.refresh_status()
            return True
        return False

    async def action_regenerate_message(self) -> None:
        await self.regenerate()

    async def regenerate(self) -> None:
        if self.generating or self.host.engine.info is None:
            return
        if self.conv.regenerate_point() is None:
            self.set_status("Nothing to regenerate yet.", warn=True)
            return
        await self.render_thread(keep=True)
        await self._start_answer(None)

    async def action_branch(self, step: int) -> None:
        view = self.focused_message()
        if view is None or view.message_id is None or self.generating:
            return
        if self.conv.switch_branch(view.message_id, step):
            mid = view.message_id
            await self.render_thread(keep=True)
            for v in self.views():
                if v.message_id in self.conv.store.siblings(mid):
                    v.focus()
            self.measure_context()

    # -- the worker: a thin wrapper over Conversation.stream_answer ------------------------------------
    @work(thread=True, exclusive=True, group="generate")
    def generate(
        self, conv: Conversation, gid: int, user_text: str | None, parent_id: int | None, cancel: threading.Event
    ) -> None:
        try:
            saved = self._generate(conv, gid, user_text, parent_id, cancel)
        finally:
            self.answer_saved.set()
        if saved:  # (else the status line keeps saying why the turn was not sent)
            self.measure_context()

    def _generate(
        self, conv: Conversation, gid: int, user_text: str | None, parent_id: int | None, cancel: threading.Event
    ) -> bool:
        engine = self.host.engine
        info = engine.info
        model_path, model_name = (str(info.path), info.name) if info else ("", "")
        try:
            user_id = (
                conv.add_user(user_text, parent_id=parent_id, model_path=model_path, model_name=model_name)
                if user_text is not None
                else None
            )
            answer_id = conv.begin_answer(model_name)
        except StoreError as exc:
            self.post_message(TurnSaveFailed(gid, str(exc), user_text or ""))
            return False
        self.post_message(TurnSaved(gid, user_id, answer_id))
        flush_s = LOW_REDRAW_FLUSH_S if self.low_redraw else FLUSH_S
        answer = conv.stream_answer(
            engine,
            answer_id,
            cancel,
            lambda text, n, t: self.post_message(TextStreamed(gid, text, n, t)),
            flush_s=flush_s,
        )
        self.post_message(GenerationFinished(gid, answer.text, answer.stats))
        return True

    @work(thread=True, exclusive=True, group="context")
    def measure_context(self) -> None:
        engine = self.host.engine
        info = engine.info
        if info is None:
            return
        try:
            used = engine.count_tokens(self.conv.model_messages())
        except Exception:
            return
        self.post_message(ContextMeasured(used, info.n_ctx))

    def on_turn_saved(self, message: TurnSaved) -> None:
        if message.generation_id != self._generation_id:
            return
        if message.user_id is not None:  # (the first one made the session)
            self._remember_session()
        if self._user_view is not None and message.user_id is not None:
            self._user_view.message_id = message.user_id
            try:
                self._user_view.set_branch(*self.conv.branches(message.user_id))
            except StoreError:
                pass
        if self._answer is not None:
            self._answer.message_id = message.answer_id

    async def on_turn_save_failed(self, message: TurnSaveFailed) -> None:
        if message.generation_id != self._generation_id:
            return
        self.generating = False
        if self._answer is not None:
            await self._answer.remove()
        if self._user_view is not None and message.prompt:
            await self._user_view.remove()
            prompt = self.query_one(PromptInput)
            prompt.text = message.prompt
        self.set_status(f"Not sent: {message.error} Your prompt is back in the box.", warn=True)

    async def on_text_streamed(self, message: TextStreamed) -> None:
        if message.generation_id != self._generation_id or self._answer is None:
            return
        self.host.token_rate_add(message.t, message.tokens)
        await self._answer.append(message.text)

    async def on_generation_finished(self, message: GenerationFinished) -> None:
        if message.generation_id != self._generation_id or self._answer is None:
            return
        answer, stats = self._answer, message.stats
        answer.keep_room()
        await answer.finish()
        self.generating = False
        self._cancel = None
        footer, warn = answer_footer(stats)
        answer.set_footer(footer, warn=warn)
        if not message.text and stats.stop_reason is StopReason.EOS:
            await answer.replace_text("*(empty answer)*")
        if answer.message_id is not None:
            answer.set_branch(*self.conv.branches(answer.message_id))
        self.post_message(AnswerEnded(stats))
        self.refresh_status()
        await self.history.trim()

    def on_context_measured(self, message: ContextMeasured) -> None:
        self.context_used = message.used
        self.refresh_status()  # (and on to the app: the gauges show it too)

    def watch_generating(self, generating: bool) -> None:
        if self.is_mounted:
            self.refresh_status()
            # A steady cursor while an answer streams: each blink repaints the prompt's line (~0.6 ms, twice a
            # second), CPU time taken from llama.cpp's threads on a machine with few cores.
            for prompt in self.query("#prompt").results(PromptInput):  # none while the pane is taken down
                prompt.cursor_blink = not generating
