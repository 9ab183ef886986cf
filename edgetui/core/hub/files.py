"""Hub file names and specs: GGUF quantization from a name, split parts grouped, `org/repo:QUANT` parsing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edgetui.core.hub.errors import HubError

_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q[1-8](?:_(?:XXS|XS|XL|NL|K|S|M|L|[0-9]))*|TQ[12]_0|MXFP4(?:_MOE)?)"
    r"|BF16|FP16|F16|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(r"^(?P<base>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# The quantization picked when `pull` names none: good quality for its size, runs everywhere.
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q4_0", "Q4_1", "Q5_K_M", "Q5_K_S", "Q5_0", "Q6_K", "Q8_0",
                  "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "F16", "BF16", "F32")  # fmt: skip


@dataclass(frozen=True)
class HubRepo:
    """A model repository found by a search."""

    repo_id: str
    downloads: int = 0
    likes: int = 0
    updated: datetime | None = None
    gated: bool = False
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["updated"] = self.updated.isoformat() if self.updated else None
        d["tags"] = list(self.tags)
        return d


@dataclass(frozen=True)
class HubFile:
    """One GGUF model in a repository: a single file, or the parts of a split model as one entry."""

    name: str  # path in the repo of the file (the first part for a split model)
    size: int  # bytes, all parts together
    quant: str = ""  # "Q4_K_M", "IQ4_XS", "F16"... as the file name says; "" when it does not
    parts: tuple[str, ...] = field(default=())  # every file to download, in order
    kind: str = "model"  # "model", or "mmproj" for a vision projector

    @property
    def split(self) -> bool:
        return len(self.parts) > 1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parts"] = list(self.parts)
        return d


def quant_from_name(name: str) -> str:
    """The quantization a GGUF file name announces ('Q4_K_M', 'UD-Q4_K_XL', 'F16'), '' when none."""
    stem = Path(name).name
    m = _SPLIT_RE.match(stem)
    stem = m["base"] if m else re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = _QUANT_RE.findall(stem)
    if not found:
        return ""
    q = found[-1].upper()
    return "F16" if q == "FP16" else q


def group_gguf_files(entries: Sequence[tuple[str, int]]) -> list[HubFile]:
    """(path, size) pairs of a repo -> its GGUF models, split parts grouped, sorted by size."""
    singles: list[HubFile] = []
    splits: dict[str, list[tuple[int, int, str, int]]] = {}
    for path, size in entries:
        if not path.lower().endswith(".gguf"):
            continue
        m = _SPLIT_RE.match(path)
        if m:
            splits.setdefault(m["base"], []).append((int(m["i"]), int(m["n"]), path, int(size or 0)))
        else:
            singles.append(_hub_file(path, (path,), int(size or 0)))
    for parts in splits.values():
        parts.sort()
        paths = tuple(p[2] for p in parts)
        singles.append(_hub_file(paths[0], paths, sum(p[3] for p in parts)))
    return sorted(singles, key=lambda f: (f.kind != "model", f.size, f.name))


def _hub_file(name: str, parts: tuple[str, ...], size: int) -> HubFile:
    kind = "mmproj" if "mmproj" in Path(name).name.lower() else "model"
    return HubFile(name=name, size=size, quant=quant_from_name(name), parts=parts, kind=kind)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`org/repo:Q4_K_M` -> ('org/repo', 'Q4_K_M'); also accepts hf.co/ and https://huggingface.co/ prefixes
    and a file name after the colon (`org/repo:model-Q8_0.gguf`)."""
    s = spec.strip()
    s = re.sub(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/", "", s)
    s = re.sub(r"^(?:models/)", "", s)
    quant: str | None = None
    if ":" in s:
        s, quant = s.split(":", 1)
        quant = quant.strip() or None
    s = s.strip().strip("/")
    if not _REPO_RE.match(s):
        raise HubError(f"{spec!r} is not a Hugging Face model: write it as org/repo or org/repo:QUANT")
    if quant and not quant.lower().endswith(".gguf"):
        quant = quant.upper()
    return s, quant


def pick_file(files: Sequence[HubFile], quant: str | None, repo_id: str = "the repository") -> HubFile:
    """The file matching `quant` (a quantization or a file name); without one, the best default."""
    models = [f for f in files if f.kind == "model"]
    if not models:
        raise HubError(f"{repo_id} has no GGUF model file")
    if quant:
        if quant.lower().endswith(".gguf"):
            for f in files:
                if quant in f.parts or Path(f.name).name == quant:
                    return f
            raise HubError(f"{repo_id} has no file {quant}")
        q = quant.upper()
        bare = q.removeprefix("UD-")
        hits = [f for f in models if f.quant == q] or [f for f in models if f.quant.removeprefix("UD-") == bare]
        if hits:
            return hits[0]
        have = ", ".join(sorted({f.quant for f in models if f.quant})) or "none named by quantization"
        raise HubError(f"{repo_id} has no {q} file; it has: {have}")
    for wanted in DEFAULT_QUANTS:
        for f in models:
            if f.quant.removeprefix("UD-") == wanted:
                return f
    return models[0]
