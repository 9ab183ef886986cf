"""The gauge pane: memory, CPU and GPU gauges, live tokens/s with a sparkline, last answer's timings."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Label, Sparkline, Static

from edgetui.core.types import GenerationStats, ModelInfo
from edgetui.core.units import format_bytes
from edgetui.core.visible_text import visible
from edgetui.ui._textual import paint_now


class GaugePane(Vertical):
    """Read-only gauges; everything is updated from UI-thread handlers, never from the token path."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._texts: dict[str, str] = {}  # what each gauge shows

    def _show(self, widget_id: str, text: str) -> None:
        """Update a gauge; a layout of the screen only when its number of lines changes (it costs ~6 ms), else a
        repaint of its own lines."""
        old = self._texts.get(widget_id)
        if old == text:
            return  # a repaint of what is there already
        same = old is not None and old.count("\n") == text.count("\n")
        try:
            static = self.query_one(f"#{widget_id}", Static)
        except NoMatches:  # the app is closing: an answer that ends then has no gauges left to show it
            return
        self._texts[widget_id] = text
        static.update(text, layout=not same)
        if same:
            paint_now(static)

    def compose(self) -> ComposeResult:
        yield Label("Speed", classes="gauge-title")
        yield Static("", id="g-tps", markup=False)
        yield Sparkline([], id="g-spark")
        yield Static("", id="g-last", markup=False)
        yield Static("", id="g-ctx", markup=False)
        yield Label("Memory", classes="gauge-title")
        yield Static("–", id="g-mem", markup=False)
        yield Label("Model", classes="gauge-title")
        yield Static("no model loaded", id="g-model", markup=False)  # (what the engine read from the file)
        yield Label("GPU", classes="gauge-title", id="g-gpu-title")
        yield Static("", id="g-gpu", markup=False)

    def on_mount(self) -> None:
        self._show("g-tps", "     – tok/s now\n     – tok/s avg")  # as tall as the figures: no layout when they come
        self.show_last(None)
        self.show_gpus([])

    def show_rate(self, current: float, smoothed: float, history: list[float]) -> None:
        self._show("g-tps", f"{current:6.1f} tok/s now\n{smoothed:6.1f} tok/s avg")
        spark = self.query_one("#g-spark", Sparkline)
        spark.data = history[-40:]  # always shown: no layout when it starts
        paint_now(spark)

    def show_last(self, stats: GenerationStats | None) -> None:
        """The last answer's timings; None while a new one starts (the previous one's are not its own)."""
        if stats is None:
            self._show("g-last", "TTFT –\nprompt –\ngen –")
            return
        read = stats.prompt_eval_tokens
        prompt = "cached" if stats.prompt_tokens and not read else f"{stats.prompt_tps:.0f} tok/s"
        self._show(
            "g-last",
            f"TTFT {stats.ttft_s * 1000:.0f} ms\nprompt {prompt}\ngen {stats.gen_tps:.1f} tok/s ({stats.gen_tokens})",
        )

    def show_context(self, used: int, n_ctx: int) -> None:
        if n_ctx:
            self._show("g-ctx", f"context {used}/{n_ctx} ({100 * used / n_ctx:.0f}%)")

    def show_memory(self, rss: int | None, ram_used: int | None, ram_total: int | None, cpu: float | None) -> None:
        lines = [f"RSS  {format_bytes(rss)}"]
        if ram_used is not None and ram_total:  # 'RAM  12.3 GiB/31.2 GiB': at most 22 columns, the pane has 23
            lines.append(f"RAM  {format_bytes(ram_used)}/{format_bytes(ram_total)}")
        if cpu is not None:
            lines.append(f"CPU  {cpu:.0f}%")
        self._show("g-mem", "\n".join(lines))

    def show_model(self, info: ModelInfo | None, kv_bytes: int | None = None) -> None:
        if info is None:
            self.query_one("#g-model", Static).update("no model loaded")
            return
        lines = [
            f"{info.quant or '?'} · {format_bytes(info.size_bytes)}",
            f"ctx {info.n_ctx} · {info.n_threads} thr",
            f"load {info.load_s:.2f} s",
            f"{info.backend} · ngl {info.n_gpu_layers}",
        ]
        if kv_bytes:
            lines.insert(1, f"KV cache {format_bytes(kv_bytes)}")
        self.query_one("#g-model", Static).update(visible("\n".join(lines)))

    def show_gpus(self, gpus: list[Any]) -> None:
        """One line per GPU (VRAM used/total, utilisation: '0 12.3 GiB/140 GiB 100%', 23 columns); the section is
        hidden when there is none."""
        self.query_one("#g-gpu-title").display = bool(gpus)
        gpu = self.query_one("#g-gpu", Static)
        gpu.display = bool(gpus)
        if gpus:
            gpu.update(
                "\n".join(
                    f"{g.index} {format_bytes(g.vram_used)}/{format_bytes(g.vram_total)}"
                    + (f" {g.util_percent:.0f}%" if getattr(g, "util_percent", None) is not None else "")
                    for g in gpus
                )
            )
