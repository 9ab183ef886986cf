"""The key bar at the bottom of every full screen: Textual's Footer, made to fit the terminal's width.

Textual's Footer lays its keys out in one row and cuts off what does not fit ("^k Co" at 80 columns). This one
goes compact (less space around each key) when the full form does not fit, and when even that does not fit it
leaves keys out rather than cut one in two: it keeps Help first (F1 lists every key), then the keys of the screen
and of what has the focus, then Quit, then the app's other keys; the command palette's goes."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from edgetui.ui._textual import footer_key

FIRST, SOON = "help", "quit"  # the app's keys kept first (the way to every other key) and before its others


@dataclass(frozen=True)
class Key:
    """One key of the bar: its binding, whether it is enabled now, its tooltip, and who owns it."""

    binding: Binding
    display: str
    enabled: bool
    tooltip: str
    app_key: bool  # the app's own binding (shown on every screen), not the screen's or the focused widget's

    def width(self, compact: bool) -> int:
        """The columns it takes in the bar (FooterKey's padding and margins, compact or not)."""
        key, text = cell_len(self.display), cell_len(self.binding.description)
        if not text:
            return key + (1 if compact else 0)
        return key + text + (2 if compact else 3)


def choose(keys: list[Key], width: int, compact: bool) -> list[Key]:
    """The keys that fit in `width` columns, in their order; by priority: the app's Help, the screen's and the
    focused widget's keys, the app's Quit, then the app's others (from the first)."""
    app_keys = [k for k in keys if k.app_key]
    ranked = (
        [k for k in app_keys if k.binding.action == FIRST]
        + [k for k in keys if not k.app_key]
        + [k for k in app_keys if k.binding.action == SOON]
        + [k for k in app_keys if k.binding.action not in (FIRST, SOON)]
    )
    kept: set[int] = set()
    room = width
    for key in ranked:
        need = key.width(compact)
        if need <= room:
            kept.add(id(key))
            room -= need
    return [k for k in keys if id(k) in kept]


class KeyFooter(Footer):
    """A Footer that never shows a key cut off: compact when needed, then fewer keys (see the module's doc)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._width = 0
        self.shown: list[Key] = []  # the keys the bar shows now (F1 lists them all)

    def _keys(self) -> tuple[list[Key], Key | None]:
        """The bar's keys (one per action, as Footer shows them) and the command palette's, when it has one."""
        app = self.app
        keys: dict[str, Key] = {}
        for node, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in keys:
                display = app.get_key_display(binding)
                keys[binding.action] = Key(binding, display, enabled, tooltip, node is app)
        palette = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            found = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _, binding, enabled, tooltip = found
                palette = Key(binding, app.get_key_display(binding), enabled, binding.tooltip or tooltip, True)
        return list(keys.values()), palette

    def _layout(self, width: int) -> tuple[list[Key], Key | None, bool]:
        """What to show in `width` columns: the keys, the palette's key (or None), compact or not."""
        keys, palette = self._keys()
        for compact in (False, True):
            side = palette.width(compact) + (1 if compact else 2) if palette is not None else 0  # (its border)
            if sum(k.width(compact) for k in keys) + side <= width:
                return keys, palette, compact
        return choose(keys, width, compact=True), None, True

    bindings_ready = False  # the screen's bindings are there to show (as Footer's own flag, which is private)

    def bindings_changed(self, screen: Screen) -> None:
        self.bindings_ready = True
        super().bindings_changed(screen)

    def compose(self) -> ComposeResult:
        key_widget = footer_key()
        if key_widget is None:  # a Textual this was not written for: its own Footer
            yield from super().compose()
            return
        if not self.bindings_ready:
            return
        self._width = width = self.app.size.width
        keys, palette, compact = self._layout(width)
        self.compact = compact
        self.shown = keys
        for key in keys:
            binding = key.binding
            yield key_widget(binding.key, key.display, binding.description, binding.action, disabled=not key.enabled,
                            tooltip=key.tooltip).data_bind(compact=Footer.compact)  # fmt: skip
        if palette is not None:
            binding = palette.binding
            yield key_widget(binding.key, palette.display, binding.description, binding.action,
                            classes="-command-palette", disabled=not palette.enabled, tooltip=palette.tooltip or
                            binding.description)  # fmt: skip

    def on_resize(self, event: events.Resize) -> None:
        if self.bindings_ready and self.app.size.width != self._width:
            self.refresh(recompose=True)
