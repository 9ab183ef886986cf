"""The model catalog: every GGUF model on this machine (own dirs, HF cache, Ollama, LM Studio, default)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgetui.config import Config
from edgetui.core.gguf.cache import HeaderCache
from edgetui.core.gguf.read import GGUFError, GGUFHeader
from edgetui.core.gguf.split import merge_headers, split_info, split_parts
from edgetui.core.models.fit import FitEstimate, Resources, estimate_fit
from edgetui.core.models.sources import hf_cache_dir, hf_candidates, ollama_candidates, walk_gguf
from edgetui.core.units import format_bytes  # also imported from here by the UI
from edgetui.paths import Paths

CACHE_FILE = "gguf-headers.json"
SOURCES = ("default", "models", "config", "lmstudio", "hf", "ollama", "opened")  # dedup keeps the first
COLUMNS = ("Name", "Params", "Quant", "Size", "Source", "Fit", "Path")
SORT_KEYS = ("name", "params", "quant", "size", "source", "fit", "path")
_FIT_RANK = {"fits": 0, "tight": 1, "does not fit": 2}

Progress = Callable[[int, int, str], None]  # (done, total, path being read)


@dataclass
class CatalogEntry:
    """One model: a GGUF file, or all parts of a split one; `error` says why it cannot be read."""

    path: Path  # what to load (the first part of a split model)
    name: str
    source: str
    header: GGUFHeader | None = None
    error: str = ""
    parts: list[Path] = field(default_factory=list)
    realpath: str = ""
    size: int = 0
    aliases: list[str] = field(default_factory=list)  # other paths to the same file (symlinks, other sources)
    fit: FitEstimate | None = None

    @property
    def ok(self) -> bool:
        return self.header is not None and not self.error

    @property
    def n_params(self) -> int:
        return self.header.n_params if self.header else 0

    @property
    def quant(self) -> str:
        return self.header.quant if self.header else ""

    @property
    def group(self) -> str:
        """Sibling key: same architecture, base name, parameter and layer counts and fine-tune tag."""
        h = self.header
        if h is None or not h.n_params:
            return f"?{self.realpath or self.path}"
        finetune = str(h.metadata.get("general.finetune", "")).lower()
        return f"{h.architecture}|{h.basename.lower()}|{h.n_params}|{h.block_count}|{finetune}"

    def row(self) -> tuple[str, ...]:
        """Cells for COLUMNS (a DataTable row)."""
        if not self.ok:
            return (self.name, "", "", format_bytes(self.size), self.source, f"error: {self.error}",
                    str(self.path))  # fmt: skip
        fit = self.fit.verdict if self.fit else ""
        size = format_bytes(self.size)
        return (self.name, format_params(self.n_params), self.quant, size, self.source, fit, str(self.path))

    def as_dict(self) -> dict[str, Any]:
        h = self.header
        d: dict[str, Any] = {
            "name": self.name, "path": str(self.path), "source": self.source, "error": self.error or None,
            "parts": [str(p) for p in self.parts], "size": self.size, "realpath": self.realpath,
            "aliases": self.aliases, "group": self.group,
        }  # fmt: skip
        if h is not None:
            d.update(architecture=h.architecture, model_name=h.name, n_params=h.n_params, quant=h.quant,
                     bits_per_weight=h.bits_per_weight, context_length=h.context_length, layers=h.block_count,
                     has_chat_template=h.has_chat_template)  # fmt: skip
        if self.fit is not None:
            d["fit"] = self.fit.verdict
            d["fit_detail"] = self.fit.as_dict()
        return d


Entry = CatalogEntry  # short alias for annotations


def format_params(n: int) -> str:
    """134515008 -> '135M', 7_241_732_096 -> '7.2B'."""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return str(n)


class Catalog:
    """Finds and describes every model; `scan()` fills `entries` (and `skipped`: paths left out, with why)."""

    def __init__(self, paths: Paths, config: Config, environ: Mapping[str, str] | None = None,
                 include_default: bool = True, use_cache: bool = True,
                 opened: Iterable[Path] = ()) -> None:  # fmt: skip
        """`opened`: files loaded from elsewhere (`--model PATH`), listed too (source "opened")."""
        self.paths, self.config = paths, config
        self.opened = list(opened)
        self.environ = os.environ if environ is None else environ
        self.include_default = include_default
        self.cache = HeaderCache(paths.cache_dir / CACHE_FILE if use_cache else None)
        self.entries: list[CatalogEntry] = []
        self.skipped: list[tuple[str, str]] = []
        self.cancelled = False

    @property
    def home(self) -> Path:
        return Path(self.environ.get("HOME") or Path.home())

    def candidates(self) -> Iterator[tuple[Path, str, str]]:
        """(path, source, label) of every file that may be a model, in SOURCES order; duplicates included."""
        if self.include_default:
            from edgetui.core.models.default import default_model_path

            default = default_model_path()
            if default is not None:
                yield default, "default", ""
        for root, source in self.dirs():
            for p in walk_gguf(root, self.skipped):
                yield p, source, ""
        if self.config.scan_hf_cache:
            for p, label in hf_candidates(hf_cache_dir(self.environ), self.skipped):
                yield p, "hf", label
        if self.config.scan_ollama:
            root = Path(self.environ.get("OLLAMA_MODELS") or self.home / ".ollama" / "models").expanduser()
            for p, label in ollama_candidates(root, self.skipped):
                yield p, "ollama", label
        for p in self.opened:  # last: a file that is also found above keeps that source
            if p.is_file():
                yield p, "opened", ""

    def dirs(self) -> list[tuple[Path, str]]:
        """The directories walked for *.gguf files, with their source."""
        out = [(self.paths.models_dir, "models")]
        out += [(Path(d).expanduser(), "config") for d in self.config.model_dirs]
        if self.config.scan_lmstudio:
            out += [(self.home / ".lmstudio" / "models", "lmstudio"),
                    (self.home / ".cache" / "lm-studio" / "models", "lmstudio")]  # fmt: skip
        return out

    def scan(self, cancel: threading.Event | None = None, progress: Progress | None = None) -> list[Entry]:
        """Discover and read every model; never raises for a bad file (its entry carries the error)."""
        self.skipped, self.cancelled = [], False
        todo: list[tuple[list[Path], str, str, str]] = []  # parts, source, label, error
        split_sets: set[tuple[str, str, int]] = set()
        for path, source, label in self.candidates():
            info = split_info(path)
            if info is None:
                todo.append(([path], source, label, ""))
                continue
            key = (str(path.parent), info[0], info[2])
            if key in split_sets:
                continue
            split_sets.add(key)
            try:
                parts = split_parts(path)
            except GGUFError as exc:
                todo.append(([path], source, label, str(exc)))
                continue
            todo.append((parts, source, label, ""))
        entries: dict[str, CatalogEntry] = {}
        for i, (parts, source, label, error) in enumerate(todo):
            if cancel is not None and cancel.is_set():
                self.cancelled = True
                break
            if progress is not None:
                progress(i, len(todo), str(parts[0]))
            real = os.path.realpath(parts[0])
            if real in entries:
                entries[real].aliases.append(str(parts[0]))
                continue
            entries[real] = self._entry(parts, source, label, real, error)
        self.cache.save()
        self.entries = list(entries.values())
        if progress is not None:
            progress(len(todo), len(todo), "")
        return self.entries

    def _entry(self, parts: list[Path], source: str, label: str, real: str, error: str) -> CatalogEntry:
        first = parts[0]
        info = split_info(first)
        name = label or (info[0] if info else first.stem)
        entry = CatalogEntry(path=first, name=name, source=source, parts=parts if len(parts) > 1 else [],
                             realpath=real, error=error)  # fmt: skip
        for p in parts:
            try:
                entry.size += os.stat(p).st_size
            except (OSError, ValueError):
                pass
        if entry.error:
            return entry
        try:
            headers = [self.cache.read(p) for p in parts]
            entry.header = headers[0] if len(headers) == 1 else merge_headers(headers)
        except GGUFError as exc:
            entry.error = str(exc)
        except (OSError, ValueError, MemoryError) as exc:  # the reader's promise is GGUFError; be safe anyway
            entry.error = f"{first.name}: cannot read: {exc}"
        return entry

    # -- queries ---------------------------------------------------------------------------------------
    def groups(self) -> dict[str, list[CatalogEntry]]:
        out: dict[str, list[CatalogEntry]] = {}
        for e in self.entries:
            if e.ok:
                out.setdefault(e.group, []).append(e)
        return out

    def siblings(self, entry: CatalogEntry) -> list[CatalogEntry]:
        """Other quantizations of the same base model, smallest bits-per-weight first."""
        if not entry.ok:
            return []
        same = [e for e in self.groups().get(entry.group, []) if e is not entry]
        return sorted(same, key=lambda e: (e.header.bits_per_weight if e.header else 0, e.name))

    def find(self, query: str) -> CatalogEntry | None:
        """An entry by path (any alias) or by exact, then partial, name (case-insensitive)."""
        real = os.path.realpath(os.path.expanduser(query))
        for e in self.entries:
            if e.realpath == real or str(e.path) == query or query in e.aliases:
                return e
        q = query.casefold()
        exact = [e for e in self.entries if e.name.casefold() == q]
        partial = [e for e in self.entries if q in e.name.casefold()]
        return (exact or partial or [None])[0]

    def annotate_fit(self, n_ctx: int = 4096, resources: Resources | None = None,
                     n_gpu_layers: int = -2) -> None:  # fmt: skip
        """Set `fit` on every readable entry (resources probed once)."""
        if resources is None:
            from edgetui.core.models.fit import probe_resources

            resources = probe_resources()
        for e in self.entries:
            if e.ok and e.header is not None:
                e.fit = estimate_fit(e.header, n_ctx, n_gpu_layers, resources)


def sort_entries(entries: Iterable[Entry], by: str = "name", reverse: bool = False) -> list[Entry]:
    """Sorted by one of SORT_KEYS; unreadable entries always last."""
    if by not in SORT_KEYS:
        raise ValueError(f"cannot sort by {by!r}; one of {', '.join(SORT_KEYS)}")

    def key(e: CatalogEntry) -> Any:
        h = e.header
        return {
            "name": (e.name.casefold(), str(e.path)),
            "params": (e.n_params, e.name.casefold()),
            "quant": (h.bits_per_weight if h else 0.0, e.quant),
            "size": (e.size, e.name.casefold()),
            "source": (SOURCES.index(e.source) if e.source in SOURCES else 99, e.name.casefold()),
            "fit": (_FIT_RANK.get(e.fit.verdict, 3) if e.fit else 3, e.size),
            "path": (str(e.path),),
        }[by]

    good = sorted((e for e in entries if e.ok), key=key, reverse=reverse)
    bad = sorted((e for e in entries if not e.ok), key=lambda e: str(e.path))
    return good + bad


def filter_entries(entries: Iterable[CatalogEntry], text: str = "", *, quant: str = "", source: str = "",
                   fits: bool = False, errors: bool = True) -> list[CatalogEntry]:  # fmt: skip
    """Entries whose name/path/architecture/quant contain every word of `text` (case-insensitive);
    `quant`/`source` must match exactly; `fits` keeps only those whose fit verdict is not 'does not fit'."""
    words = text.casefold().split()
    out = []
    for e in entries:
        if not errors and not e.ok:
            continue
        if quant and e.quant.casefold() != quant.casefold():
            continue
        if source and e.source != source:
            continue
        if fits and (e.fit is None or e.fit.verdict == "does not fit"):
            continue
        hay = " ".join((e.name, str(e.path), e.header.architecture if e.header else "", e.quant)).casefold()
        if all(w in hay for w in words):
            out.append(e)
    return out
