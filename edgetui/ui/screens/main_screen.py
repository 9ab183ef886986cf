"""The main screen: catalog, chat and gauges side by side, like the final product's layout."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header

from edgetui.ui.catalog.catalog_pane import CatalogPane
from edgetui.ui.chat.chat_pane import ChatPane
from edgetui.ui.widgets.gauge_pane import GaugePane
from edgetui.ui.widgets.key_footer import KeyFooter

NARROW = 100  # below this width the catalog pane starts hidden
VERY_NARROW = 70  # below this the gauges too


class MainScreen(Screen):
    """Three panes; F2 and F3 toggle the side panes (useful in an 80x24 terminal).

    The panes come made (the app gives each its services): the screen lays them out and moves the focus among them.
    The prompt is where the keyboard lives: Tab goes prompt → conversation → catalog (not through every message),
    closing any screen or dialog puts the focus back in the prompt, and a letter typed where it is no key (in the
    conversation, say) goes to the prompt instead of being lost."""

    def __init__(self, catalog: CatalogPane, chat: ChatPane, gauges: GaugePane) -> None:
        super().__init__()
        self.catalog, self.chat, self.gauges = catalog, chat, gauges

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield self.catalog
            yield self.chat
            yield self.gauges
        yield KeyFooter()

    def on_mount(self) -> None:
        width = self.app.size.width
        self.catalog.display = width >= NARROW
        self.gauges.display = width >= VERY_NARROW

    # -- focus ----------------------------------------------------------------------------------------
    def focus_prompt(self) -> None:
        self.chat.focus_prompt()

    def on_screen_resume(self) -> None:
        """Back from another screen or a dialog: the prompt has the keyboard again."""
        self.focus_prompt()

    def _stops(self) -> list[Widget]:
        """Where Tab stops, in order: the prompt, the conversation, the catalog (when shown)."""
        chat, catalog = self.chat, self.catalog
        stops: list[Widget] = [chat.prompt, chat.message_list]
        if catalog.display:
            stops.append(catalog.table)
        return stops

    def _stop_of(self, widget: Widget | None, stops: list[Widget]) -> int:
        for node in widget.ancestors_with_self if widget is not None else ():
            if node in stops:
                return stops.index(node)
            if isinstance(node, CatalogPane) and len(stops) > 2:
                return 2
        return -1

    def _cycle(self, step: int) -> Widget | None:
        stops = self._stops()
        at = self._stop_of(self.focused, stops)
        target = stops[(at + step) % len(stops)] if at >= 0 else stops[0]
        self.set_focus(target)
        return target

    def focus_next(self, selector: str | type = "*") -> Widget | None:  # type: ignore[override]
        return self._cycle(1) if selector == "*" else super().focus_next(selector)

    def focus_previous(self, selector: str | type = "*") -> Widget | None:  # type: ignore[override]
        return self._cycle(-1) if selector == "*" else super().focus_previous(selector)

    def on_key(self, event: events.Key) -> None:
        """A character typed where it is no key goes to the prompt (and the focus with it). A text box takes the
        characters typed into it, so one that reaches the screen was typed elsewhere: in the conversation, or just
        before the focus moved to the prompt (keys already on their way still go to where the focus was)."""
        if not event.is_printable or not event.character:
            return
        binding = self.active_bindings.get(event.key)
        if binding is not None and binding.enabled:
            return  # that pane's key: the app's binding check runs next
        event.stop()
        event.prevent_default()
        self.chat.focus_prompt()
        self.chat.prompt.insert(event.character)
