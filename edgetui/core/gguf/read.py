"""A fast, validating GGUF header reader: the facts of a model without loading it or walking it slowly."""

from __future__ import annotations

import errno
import mmap
import os
import stat
from pathlib import Path
from typing import Any

from edgetui.core.gguf.header import GGUFError, GGUFHeader
from edgetui.core.gguf.reader import parse_buffer
from edgetui.core.gguf.split import merge_headers, split_parts
from edgetui.core.gguf.tensor import GGUFTensor

__all__ = ["GGUFError", "GGUFHeader", "GGUFTensor", "parse_bytes", "read_header", "read_model", "read_tensors"]


def _os_reason(path: Path, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "dangling symlink" if path.is_symlink() else "file not found"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a GGUF file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return "symlink loop" if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror or exc}"


def read_header(path: str | Path) -> GGUFHeader:
    """Parse the header of one GGUF file (one part, for split models; see `read_model`)."""
    return _read(Path(path), None)


def read_tensors(path: str | Path) -> tuple[GGUFHeader, list[GGUFTensor]]:
    """The header of one GGUF file and its tensor list, in the file's order; raises GGUFError."""
    tensors: list[GGUFTensor] = []
    return _read(Path(path), tensors), tensors


def _read(path: Path, tensors: list[GGUFTensor] | None) -> GGUFHeader:
    name = path.name or str(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
            raise GGUFError(f"{name}: not a regular file")
        if st.st_size == 0:
            raise GGUFError(f"{name}: empty file (0 bytes), not a GGUF model")
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            try:
                buf: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):  # no mmap here (or the file shrank): the header is at the start
                buf = f.read(min(size, 256 << 20))
            try:
                return parse_buffer(buf, len(buf), size, path, tensors)
            finally:
                if isinstance(buf, mmap.mmap):
                    buf.close()
    except OSError as exc:
        raise GGUFError(f"{name}: {_os_reason(path, exc)}") from None


def parse_bytes(data: bytes, name: str = "<bytes>", file_size: int | None = None) -> GGUFHeader:
    """Parse a GGUF header held in memory; `file_size` (default len(data)) bounds the tensor data."""
    return parse_buffer(data, len(data), len(data) if file_size is None else file_size, Path(name))


def read_model(path: str | Path) -> GGUFHeader:
    """The header of a model file; for any part of a split model, all parts read and merged."""
    parts = split_parts(path)
    if len(parts) == 1:
        return read_header(parts[0])
    return merge_headers([read_header(p) for p in parts])
