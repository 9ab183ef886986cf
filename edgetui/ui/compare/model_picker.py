"""A modal to choose model A or B for a comparison: the GGUF files found here, the remote endpoints, a typed path."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from edgetui.core.models.ref import ModelRef
from edgetui.core.types import EngineError
from edgetui.core.visible_text import visible
from edgetui.ui.widgets.plain_text import PlainInput, cell

_QUANT_SUFFIX = re.compile(r"[._-](I?Q\d[\w]*|F16|BF16|F32|FP16)$", re.IGNORECASE)


@dataclass(frozen=True)
class Candidate:
    """A model that can be compared (a GGUF file, or an endpoint's model); `group` is the same for quantizations
    of one model."""

    ref: ModelRef
    name: str
    quant: str = ""
    size: int = 0
    bits: float = 0.0
    source: str = ""
    group: str = ""

    @property
    def remote(self) -> bool:
        return self.ref.is_remote

    @property
    def path(self) -> Path | str:
        """What the picker answers with: the file, or a remote model's `openai:` text."""
        return str(self.ref) if self.ref.is_remote else self.ref.path


def styles_dir() -> Path:
    """Same lookup as edgetui.ui.app.styles_dir (not imported from there: app.py imports the compare screen)."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package / "styles", package.parent / "styles"):
        if candidate.is_dir():
            return candidate
    return package / "styles"


def _base_group(path: Path) -> str:
    return "name:" + _QUANT_SUFFIX.sub("", path.stem).lower()


def find_candidates(paths: Any, config: Any) -> list[Candidate]:
    """Every readable GGUF model (see _local_candidates), then each configured endpoint's model."""
    out = _local_candidates(paths, config)
    for ep in getattr(config, "endpoints", ()) or ():
        label = f"{ep.name}/{ep.model}" if ep.model else f"{ep.name} (its first model)"
        out.append(Candidate(ModelRef.remote(ep.name, ep.model), label, source="remote", group=f"remote:{ep.name}"))
    return out


def _local_candidates(paths: Any, config: Any) -> list[Candidate]:
    """The catalog when it is available, else the models dir and the default model."""
    try:
        from edgetui.core.models.catalog import Catalog

        catalog = Catalog(paths, config)
        out = []
        for e in catalog.scan():
            if e.ok and e.header is not None:
                out.append(Candidate(ModelRef.local(e.path), e.name, e.quant, e.size,
                                     float(e.header.bits_per_weight or 0.0), e.source, e.group))  # fmt: skip
        return out
    except Exception:  # no catalog yet, or it failed: the plain listing below
        pass
    from edgetui.core.models.default import default_model_path

    found: list[Path] = []
    default = default_model_path()
    if default is not None:
        found.append(default)
    try:
        found += sorted(Path(paths.models_dir).glob("*.gguf"))
    except OSError:
        pass
    out, seen = [], set()
    for p in found:
        if os.path.realpath(p) in seen:
            continue
        seen.add(os.path.realpath(p))
        m = _QUANT_SUFFIX.search(p.stem)
        size = p.stat().st_size if p.is_file() else 0
        out.append(Candidate(ModelRef.local(p), p.stem, m.group(1).upper() if m else "", size, 0.0, "models",
                             _base_group(p)))  # fmt: skip
    return out


def sibling_of(path: ModelRef | Path | str, candidates: list[Candidate]) -> Path | None:
    """Another quantization of the local model at `path` (the one with the most bits per weight), or None."""
    ref = ModelRef.parse(path)
    if ref.is_remote:
        return None
    me = next((c for c in candidates if c.ref == ref), None)
    groups = {me.group} if me is not None else set()
    groups.add(_base_group(ref.path))
    same = [
        c
        for c in candidates
        if not c.remote and c.ref != ref and (c.group in groups or _base_group(c.ref.path) in groups)
    ]
    if not same:
        return None
    return max(same, key=lambda c: (c.bits, c.size)).ref.path


class ModelPicker(ModalScreen[Path | str | None]):
    """Dismisses with the chosen GGUF path, a remote model's `openai:` text, or None (Escape)."""

    CSS_PATH = [styles_dir() / "compare.tcss"]
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, side: str, current: Path | str | None = None, candidates: list[Candidate] | None = None) -> None:
        super().__init__()
        self.side = side
        self.current = current
        self.candidates = candidates
        self.rows: dict[str, Candidate] = {}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog model-picker"):
            yield Label(f"Model {self.side.upper()}", classes="dialog-title")
            table: DataTable[Text] = DataTable(id="picker-table", cursor_type="row", zebra_stripes=True)
            yield table
            hint = "or type the path of a .gguf file (or openai:<endpoint>/<model>)"
            yield PlainInput(str(self.current or ""), placeholder=hint, id="picker-path")
            yield Static("", id="picker-error", classes="-warn", markup=False)
            yield Label("Enter chooses · Tab: list / path · Esc cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in (("name", "Model"), ("quant", "Quant"), ("size", "Size"), ("source", "From")):
            table.add_column(label, key=key)
        table.focus()
        if self.candidates is None:
            self.query_one("#picker-error", Static).update("Looking for models…")
            self._scan()
        else:
            self.show(self.candidates)

    @work(thread=True, exclusive=True, group="picker-scan")
    def _scan(self) -> None:
        found = find_candidates(self.app.paths, self.app.config)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.show, found)

    def show(self, candidates: list[Candidate]) -> None:
        from edgetui.core.units import format_bytes

        self.candidates = candidates
        current = ModelRef.parse(self.current) if self.current else None
        table = self.query_one(DataTable)
        table.clear()
        self.rows = {str(i): c for i, c in enumerate(candidates)}
        for key, c in self.rows.items():
            cells = (c.name, c.quant, "–" if c.remote else format_bytes(c.size), c.source)  # (file names, headers)
            table.add_row(*(cell(v) for v in cells), key=key)
            if current is not None and c.ref == current:
                table.move_cursor(row=table.row_count - 1)
        note = "" if candidates else "No GGUF files found: type a path below."
        self.query_one("#picker-error", Static).update(note)

    @on(DataTable.RowSelected)
    def _row(self, event: DataTable.RowSelected) -> None:
        event.stop()
        chosen = self.rows.get(str(event.row_key.value))
        if chosen is not None:
            self._choose(chosen.ref)

    @on(Input.Submitted, "#picker-path")
    def _typed(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        if value:
            self._choose(ModelRef.parse(value))

    def _choose(self, ref: ModelRef) -> None:
        """Answer with the file (checked first) or, for a remote model (checked when Compare loads it), its text."""
        from edgetui.core.gguf.files import check_gguf_file

        try:
            if not ref.is_remote:
                check_gguf_file(ref.path)
        except EngineError as exc:
            self.query_one("#picker-error", Static).update(visible(str(exc)))
            return
        if self.current and ModelRef.parse(self.current) == ref:
            self.dismiss(self.current)  # the model it had: answered as it was given
            return
        self.dismiss(str(ref) if ref.is_remote else ref.path)

    def action_cancel(self) -> None:
        self.dismiss(None)
