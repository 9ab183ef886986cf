"""Split GGUF models (`name-00001-of-00003.gguf`): finding every part, and one header for them all."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from edgetui.core.gguf.header import GGUFError, GGUFHeader, finish_header

_SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


def split_info(path: str | Path) -> tuple[str, int, int] | None:
    """(prefix, part number, part count) for `name-00001-of-00003.gguf`, else None."""
    m = _SPLIT_RE.match(Path(path).name)
    if not m or int(m["count"]) < 1 or not 1 <= int(m["no"]) <= int(m["count"]):
        return None
    return m["prefix"], int(m["no"]), int(m["count"])


def split_parts(path: str | Path) -> list[Path]:
    """Every part of the split model `path` belongs to, in order ([path] for a single file).

    Raises GGUFError naming the first missing part."""
    path = Path(path)
    info = split_info(path)
    if info is None:
        return [path]
    prefix, _, count = info
    parts = [path.with_name(f"{prefix}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    for i, p in enumerate(parts, 1):
        if not (p.exists() or p.is_symlink()):
            raise GGUFError(f"{path.name}: split model is missing part {i} of {count} ({p.name})")
    return parts


def merge_headers(headers: Sequence[GGUFHeader]) -> GGUFHeader:
    """One header for a split model: metadata of the first part, sizes and counts summed over all."""
    first = headers[0]
    h = GGUFHeader.from_dict(first.to_dict())
    h.parts = [x.path for x in headers]
    for x in headers[1:]:
        h.n_params += x.n_params
        h.tensor_bytes += x.tensor_bytes
        h.file_size += x.file_size
        h.n_tensors += x.n_tensors
        h.embd_bytes += x.embd_bytes
        h.output_bytes += x.output_bytes
        if len(x.layer_bytes) > len(h.layer_bytes):
            h.layer_bytes += [0] * (len(x.layer_bytes) - len(h.layer_bytes))
        for i, b in enumerate(x.layer_bytes):
            h.layer_bytes[i] += b
        for t, n in x.type_elements.items():
            h.type_elements[t] = h.type_elements.get(t, 0) + n
    h.type_elements = dict(sorted(h.type_elements.items(), key=lambda kv: -kv[1]))
    finish_header(h)
    return h
