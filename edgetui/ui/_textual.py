"""The one place edgetui reaches into Textual's internals, each use gated on the Textual it was written for, with a
public fallback (Textual's own behaviour) on another version, after any exception here, or with
EDGETUI_TEXTUAL_PUBLIC=1.

What the internals buy (see bench/README.md for the figures): a streaming answer's changed lines painted straight to
the terminal (`paint_now`, `repaint`) and rendered without the styles cache (`render_plain`); no second screen layout
when only a column's content grew (`OneLayout`, `GrowsQuietly`) and no scrollbar refresh at every layout
(`StableScroll`); a wheel turn over a removed widget that still reaches the conversation (`WheelToHost`); and, for the
terminal's safety, control characters shown as marks in all of Textual's `Content` (`show_control_characters`). The
fallback loses the speed, never the text: the widgets pass untrusted text through `visible()` themselves.
tests/ui/test_textual_internals.py fails, naming what changed, when the pinned Textual's internals change shape.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable
from typing import Any

import textual
from rich.style import Style
from textual import events
from textual.app import App
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import TextArea

from edgetui.core.visible_text import CONTROL_MARKS

TEXTUAL_VERSION = "8.2.8"  # the version whose internals this module was written and checked against
PUBLIC_ENV = "EDGETUI_TEXTUAL_PUBLIC"  # "1": Textual's public behaviour only, as on any other version

log = logging.getLogger(__name__)

try:  # private modules: on another Textual they may be gone (the version check then keeps them unused)
    from textual import content as _content
    from textual._compositor import LayoutUpdate as _LayoutUpdate
except Exception:  # pragma: no cover - only on a Textual this was not written for
    _content = _LayoutUpdate = None  # type: ignore[assignment]
try:  # the terminal input parser (edgetui/ui/paste_guard.py subclasses it)
    from textual._xterm_parser import BRACKETED_PASTE_END, BRACKETED_PASTE_START, XTermParser
except Exception:  # pragma: no cover - only on a Textual this was not written for
    BRACKETED_PASTE_START, BRACKETED_PASTE_END = "\x1b[200~", "\x1b[201~"

    class XTermParser:  # type: ignore[no-redef]
        """A stand-in that is never the driver's parser: paste_guard then leaves Textual's own in place."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass


# (class, private member, the parameters it takes, or None for an attribute): every private member of a Textual class
# used here. The canary test checks them, and the instance attributes a live widget, screen and app have.
MEMBERS: tuple[tuple[type, str, tuple[str, ...] | None], ...] = (
    (Widget, "_size_updated", ("self", "size", "virtual_size", "container_size", "layout")),
    (ScrollView, "_size_updated", ("self", "size", "virtual_size", "container_size", "layout")),
    (Widget, "_forward_event", ("self", "event")),
    (TextArea, "_toggle_cursor_blink_visible", ("self",)),
    (App, "_display", ("self", "screen", "renderable")),
)
INSTANCE_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "widget": (
        "_size",
        "_container_size",
        "_repaint_required",
        "_layout_required",
        "_scroll_required",
        "_repaint_regions",
        "_styles_cache",
    ),
    "screen": ("_compositor", "_dirty_widgets", "_layout_required", "_scroll_required", "_repaint_required"),
    "compositor": ("_dirty_regions", "visible_widgets"),
    "app": ("_batch_count",),
}
CONTROL_STRIPPED = (0x07, 0x08, 0x0B, 0x0C, 0x0D)  # what Textual's Content deletes (the table's keys)


def shape_problems() -> list[str]:
    """What is not as this module expects in the installed Textual (empty when all is): missing modules, members,
    parameters. Checked at import (classes only: cheap) and, with live objects, by the canary test."""
    problems = []
    if _content is None or _LayoutUpdate is None:
        return ["textual.content or textual._compositor.LayoutUpdate cannot be imported"]
    table = getattr(_content, "_CONTROL_STRIP_TRANSLATE", None)
    if not isinstance(table, dict) or not set(CONTROL_STRIPPED) <= set(table):
        problems.append(f"textual.content._CONTROL_STRIP_TRANSLATE is {type(table).__name__}, not the 5-code dict")
    if _parameters(_LayoutUpdate.__init__) != ("self", "strips", "region"):
        problems.append(f"LayoutUpdate.__init__ takes {_parameters(_LayoutUpdate.__init__)}, not (strips, region)")
    for cls, name, wanted in MEMBERS:
        member = cls.__dict__.get(name)
        if member is None:
            problems.append(f"{cls.__name__}.{name} is missing")
        elif wanted is not None and _parameters(member) != wanted:
            problems.append(f"{cls.__name__}.{name} takes {_parameters(member)}, not {wanted}")
    return problems


def _parameters(function: Any) -> tuple[str, ...]:
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def _public_reason() -> str | None:
    """Why the public path is taken from the start (None: the internals are used)."""
    if os.environ.get(PUBLIC_ENV, "").strip() not in ("", "0"):
        return f"{PUBLIC_ENV} is set"
    if textual.__version__ != TEXTUAL_VERSION:
        return f"Textual {textual.__version__} is not {TEXTUAL_VERSION}, the version this was written for"
    problems = shape_problems()
    return "; ".join(problems) if problems else None


_public: str | None = _public_reason()
_failed = False  # the internals were used, then failed: caches they bypassed may be stale


def fast() -> bool:
    """True while Textual's internals are used: the pinned version, EDGETUI_TEXTUAL_PUBLIC not set, nothing failed."""
    return _public is None


def public_reason() -> str | None:
    """Why Textual's public behaviour is used (None while the internals are)."""
    return _public


def _fall_back(where: str, exc: BaseException) -> None:
    """An internal failed: Textual's public behaviour from now on, for everything here."""
    global _public, _failed
    if _public is None:
        _public, _failed = f"{where} raised {exc!r}", True
        log.warning("Textual's internals are no longer used: %s", _public)


# -- the terminal's safety -----------------------------------------------------------------------------------------
def show_control_characters() -> bool:
    """Every text Textual shows through its `Content` (Static, Label, Markdown, toasts, inputs...) shows control
    characters as marks (ESC as ␛) instead of passing them to the terminal: Textual deletes five of them (BEL, BS,
    VT, FF, CR) and lets the others through, ESC among them. A safety net under the app's own `visible()` calls, for
    any text that reaches a widget another way. False (nothing changed) on the public path."""
    if _public is not None:
        return False
    try:
        table = _content._CONTROL_STRIP_TRANSLATE  # type: ignore[union-attr]
        table.update({code: mark for code, mark in CONTROL_MARKS.items() if code != 0x0D})  # CR: still deleted
    except Exception as exc:
        _fall_back("show_control_characters", exc)
        return False
    return True


# -- painting ------------------------------------------------------------------------------------------------------
def paint_now(widget: Widget) -> bool:
    """Paint what `widget` has waiting to be repainted (after `refresh` or `update`) on the terminal now.

    Textual's own repaint renders every widget whose container overlaps the changed lines (the screen, the panes,
    their ancestors); this renders the widget's changed lines alone. It returns False and leaves the repaint to
    Textual unless the screen is settled: the widget's screen is the one shown, no layout, scroll or other repaint is
    waiting, and nothing is drawn over the lines (a notification, a tooltip). Always False on the public path."""
    if _public is not None:
        return False
    try:
        if not widget._repaint_required or widget._layout_required or not widget._repaint_regions:
            return False
        if not _paint(widget, Region.from_union(list(widget._repaint_regions))):
            return False
        widget._repaint_required = False  # painted: nothing left for the screen's next update
        widget._repaint_regions.clear()
    except Exception as exc:
        _fall_back("paint_now", exc)
        return False
    return True


def repaint(widget: Widget, region: Region) -> bool:
    """Repaint `region` of `widget` (in its own coordinates): straight to the terminal when `paint_now` could, without
    the `refresh` that would wake the widget's message queue for nothing (20 times a second while an answer
    streams); else through Textual, as `refresh(region)` does. True when it was painted now."""
    if _public is None:
        try:
            waiting = widget._repaint_required or widget._layout_required
            if not waiting and _paint(widget, region):
                return True
        except Exception as exc:
            _fall_back("repaint", exc)
            waiting = False
    else:
        waiting = False
    widget.refresh(region)
    return waiting and paint_now(widget)  # (with what was waiting; else the screen was not settled: Textual's turn)


def _paint(widget: Widget, region: Region) -> bool:
    """Paint `region` of `widget` when the screen is settled and nothing is drawn over it; False when it is not."""
    try:
        app, screen = widget.app, widget.screen
    except Exception:  # not mounted
        return False
    if screen is not app.screen or app._batch_count or app.is_inline or not widget.is_mounted:
        return False
    if screen._layout_required or screen._scroll_required or screen._repaint_required or screen._dirty_widgets:
        return False
    compositor = screen._compositor
    if compositor._dirty_regions:
        return False
    visible = compositor.visible_widgets
    where = visible.get(widget)
    if where is None:  # not placed yet, or scrolled out of sight: Textual decides
        return False
    outer, clip = where
    lines = region.translate(outer.offset).intersection(clip)
    if lines:
        for other, (other_outer, other_clip) in visible.items():
            if other is widget:  # front to back: whatever comes before it is drawn over it
                break
            if other_outer.intersection(other_clip).overlaps(lines):
                return False
        strips = widget.render_lines(lines.translate(-outer.offset))
        app._display(screen, _LayoutUpdate([[strip] for strip in strips], lines))  # type: ignore[misc]
    return True


def render_plain(widget: Widget, crop: Region, lines: Callable[[range, int, Style], list[Strip]]) -> list[Strip] | None:
    """The lines in `crop` of a widget with no border, padding, outline, tint or opacity, made as Textual's styles
    cache makes them (`StylesCache.render`: each line, then the app's filters, then the crop) but without the cache,
    ~3x faster: a streaming answer repaints a few lines 20 times a second. `lines(ys, width, style)` makes the
    widget's lines `ys`, full width. None: the widget renders through Textual (`super().render_lines(crop)`), as it
    always does on the public path."""
    if _public is not None:
        if _failed:  # lines painted past the cache before the failure: it may hold older ones
            _clear_styles_cache(widget)
        return None
    try:
        styles = widget.styles
        if (
            styles.gutter
            or styles.outline.spacing
            or styles.tint.a
            or styles.text_opacity != 1.0
            or widget.opacity != 1.0
            or styles.has_rule("hatch")
        ):
            widget._styles_cache.clear()  # its lines were not kept up to date
            return None
        width = widget.size.width
        strips = lines(crop.line_range, width, widget.visual_style.rich_style)
        filters = widget.get_line_filters()
        if filters:
            background = widget.background_colors[1]
            for line_filter in filters:
                strips = [strip.apply_filter(line_filter, background) for strip in strips]
        if crop.column_span != (0, width):
            strips = [strip.crop(*crop.column_span) for strip in strips]
    except Exception as exc:
        _fall_back("render_plain", exc)
        _clear_styles_cache(widget)
        return None
    return strips


def _clear_styles_cache(widget: Widget) -> None:
    try:
        widget._styles_cache.clear()
    except Exception:  # pragma: no cover - a Textual whose widgets have no styles cache has nothing stale either
        pass


def layout_settled(widget: Widget) -> bool:
    """No layout is waiting for `widget`: its region is where it stays for now. False when it cannot be known (the
    public path), so that what depends on it is not done."""
    if _public is not None:
        return False
    try:
        return not widget._layout_required
    except Exception as exc:
        _fall_back("layout_settled", exc)
        return False


# -- mixins (each before the Textual class it changes) ----------------------------------------------------------------
# On the public path each override passes its call on as it came (*args, **kwargs): a Textual whose private method
# takes other arguments still gets them.
def _size_args(size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> tuple[Any, ...]:
    return size, virtual_size, container_size, layout


class OneLayout:
    """For widgets that do not scroll: skip the second screen layout Textual makes when their virtual size changes
    (the layout that resized them already placed everything). Public path: Textual's two layouts."""

    def _size_updated(self, *args: Any, **kwargs: Any) -> bool:
        if _public is not None:
            return super()._size_updated(*args, **kwargs)  # type: ignore[misc]
        size, virtual_size, container_size, _ = _size_args(*args, **kwargs)
        return super()._size_updated(size, virtual_size, container_size, False)  # type: ignore[misc]


class GrowsQuietly:
    """For a scrolling column whose content grows at its end (the chat's messages): when only the content grew (same
    size, same width), the layout that grew it has already placed everything (and scrolled an anchored column to the
    end); the second layout Textual makes would change nothing. Any other change keeps Textual's behaviour.

    Hooks for the class it is mixed into (called on the internal path only): `size_changing()` before an update that
    changes its own size, `virtual_size_changed(old, new)` after an update that changed its virtual size (its
    watchers do not run when the layout is skipped). Public path: Textual's own update, no hooks."""

    def size_changing(self) -> None:
        """Its size is about to change."""

    def virtual_size_changed(self, old: Size, new: Size) -> None:
        """Its virtual size changed (the content grew or shrank)."""

    def _size_updated(self, *args: Any, **kwargs: Any) -> bool:
        if _public is not None:
            return super()._size_updated(*args, **kwargs)  # type: ignore[misc]
        size, virtual_size, container_size, layout = _size_args(*args, **kwargs)
        try:
            old = self.virtual_size  # type: ignore[attr-defined]
            resized = size != self._size  # type: ignore[attr-defined]
            grew = (
                not resized
                and container_size == self._container_size  # type: ignore[attr-defined]
                and virtual_size.width == old.width
                and virtual_size.height >= old.height
            )
        except Exception as exc:
            _fall_back("GrowsQuietly", exc)
            return super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]
        if resized:
            self.size_changing()
        changed = super()._size_updated(size, virtual_size, container_size, layout and not grew)  # type: ignore[misc]
        if virtual_size != old:
            self.virtual_size_changed(old, virtual_size)
        return changed


class StableScroll:
    """Mix in before a ScrollView (DataTable, TextArea...). A full screen layout calls `_size_updated` on every
    widget, and Textual 8.2.8's `ScrollView._size_updated` compares the virtual size it is given with the one the
    widget keeps for itself (a DataTable's is its table's, so they differ by design): it then refreshes both
    scrollbars at every layout, even when nothing about the widget changed. While an answer streams, each layout
    repainted the catalog's two scrollbars. This skips the call when everything it reads is what it was at the
    previous one. Public path: every call goes to Textual."""

    _stable_key: tuple[Any, ...] | None = None

    def _size_updated(self, *args: Any, **kwargs: Any) -> bool:
        if _public is not None:
            return super()._size_updated(*args, **kwargs)  # type: ignore[misc]
        size, virtual_size, container_size, layout = _size_args(*args, **kwargs)
        try:
            styles = self.styles  # type: ignore[attr-defined]
            key = (
                size,
                virtual_size,
                container_size,
                self._size,  # type: ignore[attr-defined]
                self.virtual_size,  # type: ignore[attr-defined]
                styles.gutter,
                styles.overflow_x,
                styles.overflow_y,
                styles.scrollbar_size_horizontal,
                styles.scrollbar_size_vertical,
            )
        except Exception as exc:
            _fall_back("StableScroll", exc)
            return super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]
        if key == self._stable_key:
            return False
        changed = super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]
        self._stable_key = (*key[:3], self._size, self.virtual_size, *key[5:])  # type: ignore[attr-defined]
        return changed


class WheelToHost:
    """The mouse wheel over the widget scrolls what is around it: its events go straight to `wheel_host`, as they
    would bubble to it. For a widget that is removed while the screen may still send it events (until the next frame
    the screen uses the map of the frame before): there they were lost (seen on a busy machine: a wheel turn just as
    an answer ended did nothing). Public path: Textual's own delivery."""

    wheel_host: Widget | None = None

    def _forward_event(self, *args: Any, **kwargs: Any) -> None:
        host, event = self.wheel_host, args[0] if args else None
        if _public is None and host is not None and isinstance(event, events.MouseScrollUp | events.MouseScrollDown):
            host._forward_event(event)
            return
        super()._forward_event(*args, **kwargs)  # type: ignore[misc]


class BlinkPaintsNow:
    """Mix in before a TextArea: the cursor's blink (twice a second, also while an answer streams) paints the
    cursor's line alone (`paint_now`) instead of waiting for the screen's update. Public path: Textual's repaint."""

    def _toggle_cursor_blink_visible(self, *args: Any, **kwargs: Any) -> None:
        super()._toggle_cursor_blink_visible(*args, **kwargs)  # type: ignore[misc]
        paint_now(self)  # type: ignore[arg-type]


def footer_key() -> type[Widget] | None:
    """The Footer's own key widget (Textual gives it no public name) on the pinned Textual; None on another, and the
    key bar is then Textual's Footer. EDGETUI_TEXTUAL_PUBLIC leaves it in use: it is a widget to compose, not a
    shape of Textual's internals, and the key bar would show other keys without it (the snapshots are the same on
    both paths)."""
    if textual.__version__ != TEXTUAL_VERSION:
        return None
    try:
        from textual.widgets._footer import FooterKey
    except Exception:  # pragma: no cover - only on a Textual this was not written for
        return None
    return FooterKey


__all__ = [
    "BRACKETED_PASTE_END",
    "BRACKETED_PASTE_START",
    "PUBLIC_ENV",
    "TEXTUAL_VERSION",
    "BlinkPaintsNow",
    "GrowsQuietly",
    "OneLayout",
    "StableScroll",
    "WheelToHost",
    "XTermParser",
    "fast",
    "footer_key",
    "layout_settled",
    "paint_now",
    "public_reason",
    "render_plain",
    "repaint",
    "shape_problems",
    "show_control_characters",
]
