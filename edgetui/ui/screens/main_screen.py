"""The main screen: catalog, chat and gauges side by side, like the final product's layout."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header

from edgetui.core.conversation import Conversation
from edgetui.ui.widgets.catalog_pane import CatalogPane
from edgetui.ui.widgets.chat_pane import ChatPane
from edgetui.ui.widgets.gauge_pane import GaugePane

NARROW = 100  # below this width the catalog pane starts hidden
VERY_NARROW = 70  # below this the gauges too


class MainScreen(Screen):
    """Three panes; F2 and F3 toggle the side panes (useful in an 80x24 terminal)."""

    def __init__(self, conversation: Conversation) -> None:
        super().__init__()
        self.conversation = conversation

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield CatalogPane(id="catalog")
            yield ChatPane(self.conversation, id="chat")
            yield GaugePane(id="gauges")
        yield Footer()

    def on_mount(self) -> None:
        width = self.app.size.width
        self.query_one("#catalog").display = width >= NARROW
        self.query_one("#gauges").display = width >= VERY_NARROW
