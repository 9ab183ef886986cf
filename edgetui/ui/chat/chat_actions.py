"""What can be done to a message of the chat: copy it or its code, edit and resend, regenerate, switch branch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgetui.ui.chat.message_view import MessageView, code_blocks
from edgetui.ui.chat.prompt_input import PromptInput

if TYPE_CHECKING:
    from edgetui.ui.chat.chat_pane import ChatPane

    _Base = ChatPane
else:
    _Base = object


class ChatActions(_Base):
    """A mixin of ChatPane: the message actions, bound to keys on a focused message and in the app."""

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
        if self.generating or self.edge.engine.info is None:
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
