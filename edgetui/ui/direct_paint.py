"""Repaint a widget's changed lines straight to the terminal, without a compositor pass over the screen."""

from __future__ import annotations

from textual._compositor import LayoutUpdate
from textual.geometry import Region
from textual.widget import Widget


def paint_now(widget: Widget) -> bool:
    """Paint what `widget` has waiting to be repainted (after `refresh` or `update`) on the terminal now.

    Textual's own repaint renders every widget whose container overlaps the changed lines (the screen, the panes,
    their ancestors), about 1.3 ms for one line of a streaming answer on a 100x30 screen; this renders the widget's
    changed lines alone. It returns False and leaves the repaint to Textual unless the screen is settled: the
    widget's screen is the one shown, no layout, scroll or other repaint is waiting, and nothing is drawn over the
    lines (a notification, a tooltip). textual is pinned: `App._display`, `Screen._compositor` and `LayoutUpdate`
    are private.
    """
    if not widget._repaint_required or widget._layout_required or not widget._repaint_regions:
        return False
    if not _paint(widget, Region.from_union(list(widget._repaint_regions))):
        return False
    widget._repaint_required = False  # painted: nothing left for the screen's next update
    widget._repaint_regions.clear()
    return True


def repaint(widget: Widget, region: Region) -> bool:
    """Repaint `region` of `widget` (in its own coordinates): straight to the terminal when `paint_now` could, without
    the `refresh` that would wake the widget's message queue for nothing (~0.1 ms, 20 times a second while an answer
    streams); else through Textual, as `refresh(region)` does. True when it was painted now."""
    waiting = widget._repaint_required or widget._layout_required
    if not waiting and _paint(widget, region):
        return True
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
        app._display(screen, LayoutUpdate([[strip] for strip in strips], lines))
    return True
