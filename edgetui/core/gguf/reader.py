"""GGUFReader: the bounds-checked walk of a GGUF header held in a buffer, into a GGUFHeader."""

from __future__ import annotations

import struct
from itertools import repeat
from pathlib import Path
from typing import Any

from edgetui.core.gguf.files import GGUF_MAGIC
from edgetui.core.gguf.header import (
    GGML_TYPES,
    GGUF_DEFAULT_ALIGNMENT,
    GGUFError,
    GGUFHeader,
    finish_header,
    tensor_nbytes,
)
from edgetui.core.gguf.tensor import GGUFTensor

MAX_ARRAY_DEPTH = 4  # arrays of arrays nested deeper than this are refused
SHORT_STRING = 4096  # longer metadata strings stay out of `metadata` (the chat template is kept)
SHORT_ARRAY = 1024  # arrays up to this many elements keep their values in `metadata`
MAX_LAYERS = 4096  # a block_count beyond this is corruption (llama.cpp allows 512)

# GGUF metadata value types: id -> (name, struct format or None for string/array).
# fmt: off
VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("u8", "<B"), 1: ("i8", "<b"), 2: ("u16", "<H"), 3: ("i16", "<h"), 4: ("u32", "<I"), 5: ("i32", "<i"),
    6: ("f32", "<f"), 7: ("bool", "<?"), 8: ("string", None), 9: ("array", None), 10: ("u64", "<Q"),
    11: ("i64", "<q"), 12: ("f64", "<d"),
}
# fmt: on
_STRUCTS = {t: struct.Struct(fmt) for t, (_, fmt) in VALUE_TYPES.items() if fmt}
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


class GGUFReader:
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


def parse_buffer(
    buf: Any, size: int, file_size: int, path: Path, tensors: list[GGUFTensor] | None = None
) -> GGUFHeader:
    """The header in `buf`; every tensor's entry is appended to `tensors` when a list is given."""
    name = path.name or str(path)
    r = GGUFReader(buf, size, name)
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
    _read_tensors(r, h, name, tensors)
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


def _read_tensors(r: GGUFReader, h: GGUFHeader, name: str, tensors: list[GGUFTensor] | None) -> None:
    dim_type = 4 if h.version == 1 else 10
    layers: dict[int, int] = {}
    by_type: dict[int, int] = {}
    seen: set[str] = set()
    infos: list[tuple[str, list[int], int, int, int]] = []  # name, dims, type, offset, nbytes
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
        infos.append((tname, dims, ttype, offset, nbytes))
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
    for tname, _, _, offset, nbytes in infos:
        end = h.data_offset + offset + nbytes
        if end > h.file_size:
            raise GGUFError(
                f"{name}: truncated: tensor {tname!r} ends at byte {end} but the file has {h.file_size} bytes"
            )
    n_layers = max(h.block_count, max(layers) + 1 if layers else 0)
    h.layer_bytes = [layers.get(i, 0) for i in range(n_layers)]
    h.type_elements = {GGML_TYPES[t][0]: n for t, n in sorted(by_type.items(), key=lambda kv: -kv[1])}
    finish_header(h)
    if tensors is not None:  # built only when asked for: a catalog scan reads many headers
        tensors.extend(GGUFTensor(n, tuple(d), t, o, b) for n, d, t, o, b in infos)
