"""The details of one catalog row: header metadata, the fit estimate at any context size, measured history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Label, Static

from edgetui.config import Config
from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.models.catalog import CatalogEntry, format_params
from edgetui.core.models.fit import FitEstimate, Resources, estimate_fit
from edgetui.core.store.store import Store
from edgetui.core.units import format_bytes
from edgetui.core.visible_text import visible
from edgetui.ui.catalog.remote_row import RemoteRow
from edgetui.ui.widgets.key_footer import KeyFooter
from edgetui.ui.widgets.plain_text import cell

MAX_CTX = 1 << 22


def _kv_table(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for key, value in rows:
        # (header fields, file names, paths: untrusted) a long path folds: the screen shows it whole
        table.add_row(cell(key), cell(value, overflow="fold"))
    return table


def header_rows(entry: CatalogEntry) -> list[tuple[str, Any]]:
    """Everything the GGUF header says that a user may want to know, as (label, value)."""
    rows: list[tuple[str, Any]] = [("Path", entry.path), ("Source", entry.source)]
    if entry.parts:
        rows.append(("Parts", f"{len(entry.parts)} files"))
    if entry.aliases:
        rows.append(("Also at", ", ".join(entry.aliases)))
    rows.append(("Size", f"{format_bytes(entry.size)} ({entry.size:,} bytes)"))
    h: GGUFHeader | None = entry.header
    if h is None:
        rows.append(("Unreadable", entry.error))
        return rows
    heads = f"{h.head_count} / {h.head_count_kv}" if h.head_count_kv else str(h.head_count)
    if h.kv_heads_per_layer:
        heads += f" (per layer: {min(h.kv_heads_per_layer)}–{max(h.kv_heads_per_layer)} KV)"
    rows += [
        ("Model name", h.name or "–"),
        ("Architecture", h.architecture or "–"),
        ("Parameters", f"{format_params(h.n_params)} ({h.n_params:,})"),
        ("Quantization", h.quant or "–"),
        ("Bits per weight", f"{h.bits_per_weight:.2f}"),
        ("Context (trained)", f"{h.context_length:,}" if h.context_length else "–"),
        ("Layers", h.block_count),
        ("Heads / KV heads", heads),
        ("Head dims (K / V)", f"{h.head_dim_k} / {h.head_dim_v}"),
        ("Embedding / FFN", f"{h.embedding_length} / {h.feed_forward_length}"),
        ("Vocabulary", f"{h.vocab_size:,}" if h.vocab_size else "–"),
        ("Chat template", "yes" if h.has_chat_template else "no (a fallback format is used)"),
        ("License", h.license or "–"),
        ("GGUF version", f"v{h.version}, {h.n_tensors} tensors, {h.n_kv} metadata keys"),
    ]
    return rows


def fit_table(est: FitEstimate) -> Table:
    table = Table(box=None, padding=(0, 2), header_style="bold")
    table.add_column("")
    for col in ("weights", "KV cache", "compute", "overhead", "total", "free"):
        table.add_column(col, justify="right")
    for device, d in est.breakdown().items():
        if device == "vram" and not d["total"] and not d["available"]:
            continue
        table.add_row(cell(device.upper()), *(cell(format_bytes(d[k])) for k in
                      ("weights", "kv_cache", "compute", "overhead", "total", "available")))  # fmt: skip
    return table


def history_table(rows: list[dict[str, Any]]) -> Table | str:
    if not rows:
        return "No load of this file measured yet (Enter in the catalog loads it and measures)."
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for col in ("when", "context", "predicted", "measured", "error"):
        table.add_column(col, justify="left" if col == "when" else "right")
    for r in rows[-20:]:
        rel = r.get("rel_error")
        cells = (str(r.get("created", ""))[:19].replace("T", " "), r.get("n_ctx", ""),  # (the database's)
                 format_bytes(r.get("predicted_bytes") or 0), format_bytes(r.get("measured_bytes") or 0),
                 f"{rel * 100:+.0f}%" if rel is not None else "–")  # fmt: skip
        table.add_row(*(cell(c) for c in cells))
    return table


class ModelDetails(Screen[None]):
    """Read-only details of a catalog row; the context input recomputes the fit estimate (Enter). The settings
    give the context size and GPU layers to start from, the store the measured loads, `fit_resources` the memory."""

    BINDINGS = [Binding("escape", "close", "Back")]

    def __init__(
        self,
        item: CatalogEntry | RemoteRow,
        siblings: list[CatalogEntry],
        config: Config,
        store: Store,
        fit_resources: Callable[[], Resources],
    ) -> None:
        super().__init__()
        self.item = item
        self.sibling_entries = siblings
        self.config = config
        self.store = store
        self.fit_resources = fit_resources
        self.resources: Resources | None = None
        self.estimate: FitEstimate | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="details"):
            yield Label(visible(f"Model details: {self.item.name}"), classes="pane-title", markup=False)
            yield Static("", id="details-meta")
            if isinstance(self.item, CatalogEntry) and self.item.ok:
                yield Label("Will it fit?", classes="pane-title")
                with Horizontal(id="details-ctx-row"):
                    yield Label("Context size (Enter recomputes): ")
                    yield Input(str(self.config.n_ctx), id="details-ctx", type="integer")
                yield Static("", id="details-fit")
                yield Label("Predicted vs measured", classes="pane-title")
                yield Static("", id="details-history")
                yield Label("Siblings (other quantizations of this model)", classes="pane-title")
                yield Static("", id="details-siblings")
        yield KeyFooter()

    def on_mount(self) -> None:
        item = self.item
        meta = self.query_one("#details-meta", Static)
        if isinstance(item, RemoteRow):
            ep = item.endpoint
            key = f"${ep.api_key_env}" if ep.api_key_env else "none"
            rows = [("Endpoint", ep.name), ("Base URL", ep.base_url), ("Model", ep.model or "the server's first"),
                    ("API key from", key), ("Timeout", f"{ep.timeout_s:g} s")]  # fmt: skip
            meta.update(_kv_table(rows))
            return
        meta.update(_kv_table(header_rows(item)))
        if not item.ok:
            return
        self.resources = self.fit_resources()
        self.recompute(self.config.n_ctx)
        self.query_one("#details-history", Static).update(history_table(self._measurements()))
        sib = Table(box=None, padding=(0, 2), header_style="bold")
        for col in ("name", "quant", "bits/w", "size", "fit"):
            sib.add_column(col)
        for s in self.sibling_entries:
            bpw = f"{s.header.bits_per_weight:.2f}" if s.header else ""
            verdict = s.fit.verdict if s.fit else ""
            sib.add_row(
                cell(s.name, overflow="fold"), *(cell(c) for c in (s.quant, bpw, format_bytes(s.size), verdict))
            )
        self.query_one("#details-siblings", Static).update(
            sib if self.sibling_entries else "None found on this machine."
        )
        self.query_one("#details", VerticalScroll).focus()

    def _measurements(self) -> list[dict[str, Any]]:
        assert isinstance(self.item, CatalogEntry)
        rows: list[dict[str, Any]] = []
        try:
            for path in [str(self.item.path), *self.item.aliases]:
                rows += self.store.fit_measurements(path)
        except Exception:
            return []
        return sorted(rows, key=lambda r: r.get("created", ""))

    def recompute(self, n_ctx: int) -> None:
        item = self.item
        if not isinstance(item, CatalogEntry) or item.header is None:
            return
        self.estimate = est = estimate_fit(item.header, n_ctx, self.config.n_gpu_layers, self.resources)
        where = f" at context {est.n_ctx:,}, {est.n_gpu_layers} layer(s) on the GPU"
        text = Text.assemble((visible(est.verdict), "bold"), where)
        for line in ([est.reason] if est.reason else []) + est.notes:
            text.append(visible(f"\n{line}"))
        fit = self.query_one("#details-fit", Static)
        grid = Table.grid()
        grid.add_row(text)
        grid.add_row(fit_table(est))
        fit.update(grid)

    @on(Input.Submitted, "#details-ctx")
    def _ctx_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            n_ctx = int(event.value)
        except ValueError:
            n_ctx = 0
        if not 1 <= n_ctx <= MAX_CTX:
            self.notify(f"The context size must be between 1 and {MAX_CTX:,}.", severity="warning")
            return
        self.recompute(n_ctx)

    def action_close(self) -> None:
        self.dismiss(None)
