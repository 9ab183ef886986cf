"""What a Pilot test's screen shows, as text: the composed screen (what Textual would write), line by line."""

from __future__ import annotations

from textual.app import App


def screen_lines(app: App) -> list[str]:
    """Every line of the screen as the user would read it (textual is pinned: `_compositor` is private)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def chat_lines(app: App) -> list[str]:
    """The lines of the chat column (between the pane's borders), right-trimmed, scrollbar cut off."""
    chat = app.screen.query_one("#messages")
    region = chat.region
    lines = screen_lines(app)[region.y : region.bottom]
    return [line[region.x : region.right - chat.styles.scrollbar_size_vertical].rstrip() for line in lines]


def find_block(lines: list[str], block: list[str]) -> int:
    """The index of the first of `len(block)` consecutive lines that read `block` once stripped of the left margin
    they share; -1 when they are not on the screen in that order."""
    for i in range(len(lines) - len(block) + 1):
        window = lines[i : i + len(block)]
        margin = min((len(w) - len(w.lstrip()) for w in window if w.strip()), default=0)
        if [w[margin:] for w in window] == block:
            return i
    return -1
