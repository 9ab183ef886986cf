"""A fast, validating GGUF header reader: the facts of a model without loading it or walking it slowly."""

from __future__ import annotations

import errno
import mmap
import os
import re
import stat
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from itertools import repeat
from pathlib import Path
from typing import Any

from edgetui.core.quantize import ftype_name

GGUF_MAGIC = b"GGUF"
GGUF_DEFAULT_ALIGNMENT = 32
MAX_ARRAY_DEPTH = 4  # arrays of arrays nested deeper than this are refused
SHORT_STRING = 4096  # longer metadata strings stay out of `metadata` (the chat template is kept)
SHORT_ARRAY = 1024  # arrays up to this many elements keep their values in `metadata`
MAX_LAYERS = 4096  # a block_count beyond this is corruption (llama.cpp allows 512)

# ggml_type -> (name, elements per block, bytes per block), as in ggml.h / ggml-common.h.
# fmt: off
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 31: ("Q4_0_4_4", 32, 18),
    32: ("Q4_0_4_8", 32, 18), 33: ("Q4_0_8_8", 32, 18), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    36: ("IQ4_NL_4_4", 32, 18), 37: ("IQ4_NL_4_8", 32, 18), 38: ("IQ4_NL_8_8", 32, 18),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}

# GGUF metadata value types: id -> (name, struct format or None for string/array).
VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("u8", "<B"), 1: ("i8", "<b"), 2: ("u16", "<H"), 3: ("i16", "<h"), 4: ("u32", "<I"), 5: ("i32", "<i"),
    6: ("f32", "<f"), 7: ("bool", "<?"), 8: ("string", None), 9: ("array", None), 10: ("u64", "<Q"),
    11: ("i64", "<q"), 12: ("f64", "<d"),
}
# fmt: on
_STRUCTS = {t: struct.Struct(fmt) for t, (_, fmt) in VALUE_TYPES.items() if fmt}
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_SPLIT_RE = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


class GGUFError(ValueError):
    """A file is not a readable GGUF model; the message says why, for the user."""


def tensor_nbytes(ggml_type: int, n_elements: int) -> int:
    """Bytes a tensor of `n_elements` of `ggml_type` occupies (n_elements must fill whole blocks)."""
    _, block, size = GGML_TYPES[ggml_type]
    return n_elements // block * size


@dataclass
class GGUFHeader:
    """What a GGUF file says about its model (for split models: all parts together)."""

    path: str = ""
    version: int = 0
    architecture: str = ""
    name: str = ""
    basename: str = ""
    size_label: str = ""
    license: str = ""
    file_type: int | None = None
    quant: str = ""
    n_params: int = 0
    bits_per_weight: float = 0.0
    file_size: int = 0
    tensor_bytes: int = 0
    context_length: int = 0
    block_count: int = 0
    head_count: int = 0
    head_count_kv: int = 0
    embedding_length: int = 0
    feed_forward_length: int = 0
    key_length: int = 0  # per-head key dimension
    value_length: int = 0  # per-head value dimension
    vocab_size: int = 0
    has_chat_template: bool = False
    chat_template: str = ""
    alignment: int = GGUF_DEFAULT_ALIGNMENT
    n_tensors: int = 0
    n_kv: int = 0
    data_offset: int = 0
    split_count: int = 1
    parts: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # scalars, short strings, short arrays
    arrays: dict[str, list[Any]] = field(default_factory=dict)  # every array: key -> [element type, length]
    kv_heads_per_layer: list[int] = field(default_factory=list)  # when head_count_kv is a per-layer array
    layer_bytes: list[int] = field(default_factory=list)  # tensor bytes of blk.<i>.*
    embd_bytes: int = 0  # token_embd.* (llama.cpp keeps these on the CPU)
    output_bytes: int = 0  # every other tensor outside the blocks (output, norms, ...)
    type_elements: dict[str, int] = field(default_factory=dict)  # ggml type name -> weights of that type

    @property
    def display_name(self) -> str:
        return self.name or self.basename or (Path(self.path).stem if self.path else "")

    @property
    def head_dim_k(self) -> int:
        return self.key_length or (self.embedding_length // self.head_count if self.head_count else 0)

    @property
    def head_dim_v(self) -> int:
        return self.value_length or (self.embedding_length // self.head_count if self.head_count else 0)

    def kv_heads(self) -> list[int]:
        """KV heads of each layer (a per-layer array in the file, else head_count_kv or head_count)."""
        if self.kv_heads_per_layer:
            return list(self.kv_heads_per_layer)
        return [self.head_count_kv or self.head_count] * self.block_count

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GGUFHeader:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class _Reader:
    """Walks a GGUF header in a buffer; every read is bounds-checked against the buffer."""

    def __init__(self, buf: Any, size: int, name: str) -> None:
        self.buf, self.size, self.name, self.pos = buf, size, name, 0
        self.u_count = _U64  # u32 in GGUF v1

    def truncated(self, what: str) -> GGUFError:
        return GGUFError(f"{self.name}: truncated: the file ends inside {what} (offset {self.pos})")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.truncated(what)

    def take(self, st: struct.Struct, what: str) -> Any:
        self.need(st.size, what)
        (v,) = st.unpack_from(self.buf, self.pos)
        self.pos += st.size
        return v

    def scalar(self, vtype: int, what: str) -> Any:
        return self.take(_STRUCTS[vtype], what)

    def string(self, what: str, limit: int | None = None) -> str | None:
        """A string (None when longer than `limit`: skipped, not decoded)."""
        n = self.take(self.u_count, what)
        self.need(n, what)
        self.pos += n
        if limit is not None and n > limit:
            return None
        return bytes(self.buf[self.pos - n : self.pos]).decode("utf-8", "replace")

    def skip_strings(self, n: int, what: str) -> None:
        """Skip `n` strings: the tight loop that makes 262k-token vocabularies cheap."""
        if n * self.u_count.size > self.size - self.pos:
            raise self.truncated(what)
        unpack, buf, width, pos = self.u_count.unpack_from, self.buf, self.u_count.size, self.pos
        try:
            for _ in repeat(None, n):
                pos += width + unpack(buf, pos)[0]
        except (struct.error, OverflowError):  # a length that points past the end (or past 2**63)
            raise self.truncated(what) from None
        if pos > self.size:
            raise self.truncated(what)
        self.pos = pos

    def value(self, vtype: int, key: str, depth: int = 0) -> tuple[Any, list[Any] | None]:
        """Read one value; returns (value or None when skipped, [element type, length] for arrays)."""
        if vtype not in VALUE_TYPES:
            raise GGUFError(f"{self.name}: unknown value type {vtype} for metadata key {key!r} (corrupt?)")
        if vtype == 8:
            limit = None if key == "tokenizer.chat_template" else SHORT_STRING
            return self.string(f"the value of {key!r}", limit), None
        if vtype != 9:
            return self.scalar(vtype, f"the value of {key!r}"), None
        if depth >= MAX_ARRAY_DEPTH:
            raise GGUFError(f"{self.name}: arrays nested too deeply in metadata key {key!r}")
        etype = self.scalar(4, f"the array type of {key!r}")
        n = self.take(self.u_count, f"the array length of {key!r}")
        if etype not in VALUE_TYPES:
            raise GGUFError(f"{self.name}: unknown array element type {etype} for metadata key {key!r}")
        tname = VALUE_TYPES[etype][0]
        what = f"the array {key!r} ({n} {tname} values)"
        if etype == 8:
            if n <= SHORT_ARRAY:
                return [self.string(what) for _ in range(n)], [tname, n]
            self.skip_strings(n, what)
            return None, [tname, n]
        if etype == 9:
            if n * 12 > self.size - self.pos:  # each nested array needs at least its type and length
                raise self.truncated(what)
            for _ in range(n):
                self.value(9, key, depth + 1)
            return None, [tname, n]
        st = _STRUCTS[etype]
        self.need(n * st.size, what)
        start = self.pos
        self.pos += n * st.size
        if n <= SHORT_ARRAY:
            return [v[0] for v in st.iter_unpack(self.buf[start : self.pos])], [tname, n]
        return None, [tname, n]


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
    path = Path(path)
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
                return _parse(buf, len(buf), size, path)
            finally:
                if isinstance(buf, mmap.mmap):
                    buf.close()
    except OSError as exc:
        raise GGUFError(f"{name}: {_os_reason(path, exc)}") from None


def parse_bytes(data: bytes, name: str = "<bytes>", file_size: int | None = None) -> GGUFHeader:
    """Parse a GGUF header held in memory; `file_size` (default len(data)) bounds the tensor data."""
    return _parse(data, len(data), len(data) if file_size is None else file_size, Path(name))


def _parse(buf: Any, size: int, file_size: int, path: Path) -> GGUFHeader:
    name = path.name or str(path)
    r = _Reader(buf, size, name)
    if size < 4 or bytes(buf[:4]) != GGUF_MAGIC:
        raise GGUFError(f"{name}: not a GGUF file (it does not start with 'GGUF')")
    r.pos = 4
    version = r.scalar(4, "the version")
    if version not in (1, 2, 3):
        hint = " (a big-endian file?)" if version and version & 0xFFFF == 0 else ""
        raise GGUFError(f"{name}: unsupported GGUF version {version}{hint}; versions 1-3 are known")
    if version == 1:
        r.u_count = _U32
    n_tensors = r.take(r.u_count, "the tensor count")
    n_kv = r.take(r.u_count, "the metadata count")
    if n_kv * 13 > size - r.pos:  # a key needs >= 8 (length) + 1 + 4 (type) bytes before its value
        raise GGUFError(f"{name}: corrupt or truncated: {n_kv} metadata entries cannot fit in {size} bytes")
    if n_tensors * 24 > size:  # name length + dims + type + offset
        raise GGUFError(f"{name}: corrupt or truncated: {n_tensors} tensors cannot fit in {size} bytes")
    h = GGUFHeader(path=str(path), version=version, n_tensors=n_tensors, n_kv=n_kv, file_size=file_size)
    meta, arrays = h.metadata, h.arrays
    for i in range(n_kv):
        key = r.string(f"metadata key {i}")
        vtype = r.scalar(4, f"the type of {key!r}")
        if key in meta or key in arrays:
            raise GGUFError(f"{name}: corrupt header: duplicate metadata key {key!r}")
        value, arr = r.value(vtype, key)
        if arr is not None:
            arrays[key] = arr
        if value is not None:
            meta[key] = value
    _fill_from_metadata(h, name)
    _read_tensors(r, h, name)
    return h


def _fill_from_metadata(h: GGUFHeader, name: str) -> None:
    meta = h.metadata
    arch = str(meta.get("general.architecture", ""))

    def num(key: str) -> int:
        v = meta.get(key)
        return max(map(_as_int, v), default=0) if isinstance(v, list) else _as_int(v)

    def text(key: str) -> str:
        v = meta.get(key)
        return v if isinstance(v, str) else ""

    h.architecture, h.name, h.basename = arch, text("general.name"), text("general.basename")
    h.size_label, h.license = text("general.size_label"), text("general.license")
    ft = meta.get("general.file_type")
    h.file_type = int(ft) if isinstance(ft, int) and not isinstance(ft, bool) else None
    h.context_length = num(f"{arch}.context_length")
    h.block_count = num(f"{arch}.block_count")
    if not 0 <= h.block_count <= MAX_LAYERS:
        raise GGUFError(f"{name}: corrupt header: {arch}.block_count {h.block_count} is implausible")
    h.head_count = num(f"{arch}.attention.head_count")
    h.head_count_kv = num(f"{arch}.attention.head_count_kv")
    kv = meta.get(f"{arch}.attention.head_count_kv")
    if isinstance(kv, list):
        h.kv_heads_per_layer = [_as_int(x) for x in kv]
    h.embedding_length = num(f"{arch}.embedding_length")
    h.feed_forward_length = num(f"{arch}.feed_forward_length")
    h.key_length = num(f"{arch}.attention.key_length")
    h.value_length = num(f"{arch}.attention.value_length")
    h.vocab_size = num(f"{arch}.vocab_size") or int((h.arrays.get("tokenizer.ggml.tokens") or [0, 0])[1])
    h.chat_template = text("tokenizer.chat_template")
    h.has_chat_template = bool(h.chat_template)
    meta.pop("tokenizer.chat_template", None)  # kept once, in `chat_template`
    h.split_count = max(1, num("split.count"))
    align = meta.get("general.alignment", GGUF_DEFAULT_ALIGNMENT)
    if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1):
        raise GGUFError(f"{name}: corrupt header: general.alignment {align!r} is not a power of two")
    h.alignment = align


def _as_int(v: Any) -> int:
    """A metadata number as an int; 0 for anything else (strings, NaN, infinities)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return 0
    try:
        return int(v)
    except (ValueError, OverflowError):
        return 0


def _read_tensors(r: _Reader, h: GGUFHeader, name: str) -> None:
    dim_type = 4 if h.version == 1 else 10
    layers: dict[int, int] = {}
    by_type: dict[int, int] = {}
    seen: set[str] = set()
    infos: list[tuple[str, int, int]] = []  # name, offset, nbytes
    for i in range(h.n_tensors):
        tname = r.string(f"the name of tensor {i}")
        if tname in seen:
            raise GGUFError(f"{name}: corrupt header: duplicate tensor {tname!r}")
        seen.add(tname)
        n_dims = r.scalar(4, f"tensor {tname!r}")
        if n_dims > 4:
            raise GGUFError(f"{name}: corrupt header: tensor {tname!r} has {n_dims} dimensions (at most 4)")
        dims = [r.scalar(dim_type, f"tensor {tname!r}") for _ in range(n_dims)]
        ttype = r.scalar(4, f"tensor {tname!r}")
        offset = r.scalar(10, f"tensor {tname!r}")
        if ttype not in GGML_TYPES:
            raise GGUFError(f"{name}: tensor {tname!r} has an unknown ggml type {ttype} (newer llama.cpp?)")
        n = 1
        for d in dims:
            n *= d
        if n >= 1 << 63 or (dims and dims[0] % GGML_TYPES[ttype][1]):
            raise GGUFError(f"{name}: corrupt header: tensor {tname!r} has an impossible shape {dims}")
        nbytes = tensor_nbytes(ttype, n)
        infos.append((tname, offset, nbytes))
        h.n_params += n
        h.tensor_bytes += nbytes
        by_type[ttype] = by_type.get(ttype, 0) + n
        if tname.startswith("blk."):
            idx = tname[4 : tname.find(".", 4)]
            if idx.isdigit() and int(idx) < MAX_LAYERS:
                layers[int(idx)] = layers.get(int(idx), 0) + nbytes
                continue
        if tname.startswith("token_embd"):
            h.embd_bytes += nbytes
        else:
            h.output_bytes += nbytes
    pad = -r.pos % h.alignment if h.n_tensors else 0
    h.data_offset = r.pos + pad
    for tname, offset, nbytes in infos:
        end = h.data_offset + offset + nbytes
        if end > h.file_size:
            raise GGUFError(
                f"{name}: truncated: tensor {tname!r} ends at byte {end} but the file has {h.file_size} bytes"
            )
    n_layers = max(h.block_count, max(layers) + 1 if layers else 0)
    h.layer_bytes = [layers.get(i, 0) for i in range(n_layers)]
    h.type_elements = {GGML_TYPES[t][0]: n for t, n in sorted(by_type.items(), key=lambda kv: -kv[1])}
    _finish(h)


def _finish(h: GGUFHeader) -> None:
    """Derived fields: quantization name and bits per weight."""
    if h.file_type is not None:
        h.quant = ftype_name(h.file_type & ~1024)  # 1024 = LLAMA_FTYPE_GUESSED
    elif h.type_elements:
        h.quant = max(h.type_elements.items(), key=lambda kv: kv[1])[0]
    h.bits_per_weight = round(h.tensor_bytes * 8 / h.n_params, 4) if h.n_params else 0.0


# -- split models -----------------------------------------------------------------------------------------
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
    _finish(h)
    return h


def read_model(path: str | Path) -> GGUFHeader:
    """The header of a model file; for any part of a split model, all parts read and merged."""
    parts = split_parts(path)
    if len(parts) == 1:
        return read_header(parts[0])
    return merge_headers([read_header(p) for p in parts])
