"""The GGUF header reader: real files against llama.cpp, synthetic files, and every kind of broken input."""

from __future__ import annotations

import functools
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgetui.core.gguf.header import GGML_TYPES
from edgetui.core.gguf.read import GGUFError, GGUFHeader, GGUFTensor, parse_bytes, read_header, read_model, read_tensors
from edgetui.core.gguf.split import split_info, split_parts
from edgetui.core.models.default import default_model_path

# -- a minimal GGUF writer with full control over the layout (versions 1-3, broken files) ----------------
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def _count(n: int, version: int) -> bytes:
    return struct.pack("<I" if version == 1 else "<Q", n)


def _str(s: str | bytes, version: int) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return _count(len(b), version) + b


def _value(vtype: int, value: Any, version: int, etype: int = 0) -> bytes:
    if vtype == 8:
        return _str(value, version)
    if vtype == 9:
        out = struct.pack("<I", etype) + _count(len(value), version)
        return out + b"".join(_value(etype, v, version) for v in value)
    return struct.pack(_FMT[vtype], value)


def build_gguf(
    kvs: list[tuple[str, int, Any]] | None = None,
    tensors: list[tuple[str, list[int], int]] | None = None,
    version: int = 3,
    alignment: int = 32,
) -> bytes:
    """kvs: (key, value type, value) with arrays as (key, 9, (element type, values));
    tensors: (name, dims, ggml type) laid out back to back with their data zero-filled."""
    kvs = kvs if kvs is not None else [("general.architecture", 8, "llama"), ("llama.block_count", 4, 2)]
    tensors = tensors if tensors is not None else [("token_embd.weight", [8, 4], 0), ("blk.0.w", [32, 2], 8)]
    out = bytearray(b"GGUF" + struct.pack("<I", version) + _count(len(tensors), version) + _count(len(kvs), version))
    for key, vtype, value in kvs:
        out += _str(key, version) + struct.pack("<I", vtype)
        out += _value(9, value[1], version, value[0]) if vtype == 9 else _value(vtype, value, version)
    offset, sizes = 0, []
    for name, dims, ttype in tensors:
        n = 1
        for d in dims:
            n *= d
        _, block, size = GGML_TYPES.get(ttype, ("?", 1, 0))
        nbytes = n // block * size
        out += _str(name, version) + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<I" if version == 1 else "<Q", d) for d in dims)
        out += struct.pack("<IQ", ttype, offset)
        sizes.append(nbytes)
        offset += -(-nbytes // alignment) * alignment
    out += b"\0" * (-len(out) % alignment)
    return bytes(out) + b"\0" * offset


def write(tmp_path: Path, data: bytes, name: str = "m.gguf") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- the default model, against llama.cpp and the gguf package -----------------------------------------------
@pytest.mark.engine
def test_default_model_matches_llama_cpp(shared_engine: Any, default_model: Path) -> None:
    import llama_cpp

    h = read_header(default_model)
    llm = shared_engine.llama
    model = llm.model
    assert h.n_params == llama_cpp.llama_model_n_params(model) == shared_engine.info.n_params
    assert h.tensor_bytes == llama_cpp.llama_model_size(model)
    assert h.context_length == shared_engine.info.n_ctx_train
    assert h.block_count == llama_cpp.llama_model_n_layer(model)
    assert h.head_count == llama_cpp.llama_model_n_head(model)
    assert h.head_count_kv == llama_cpp.llama_model_n_head_kv(model)
    assert h.embedding_length == llama_cpp.llama_model_n_embd(model)
    assert h.vocab_size == llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    assert h.quant == shared_engine.info.quant == "Q4_1"
    assert h.chat_template == llm.metadata["tokenizer.chat_template"] and h.has_chat_template
    for key, value in h.metadata.items():  # llama-cpp-python gives every scalar as a string
        if key in llm.metadata and not isinstance(value, list | float):
            assert str(value).lower() == llm.metadata[key].lower(), key
    assert h.file_size == default_model.stat().st_size
    assert h.architecture == "llama" and h.basename == "smollm2" and h.size_label == "135M"
    assert h.license == "apache-2.0" and h.n_tensors == 272 and h.alignment == 32
    assert h.head_dim_k == h.head_dim_v == 64
    assert h.bits_per_weight == pytest.approx(h.tensor_bytes * 8 / h.n_params, abs=1e-3)
    assert sum(h.layer_bytes) + h.embd_bytes + h.output_bytes == h.tensor_bytes
    assert len(h.layer_bytes) == 30 and h.kv_heads() == [3] * 30


@pytest.mark.engine
def test_default_model_matches_gguf_package(default_model: Path) -> None:
    import gguf

    h = read_header(default_model)
    ref = gguf.GGUFReader(default_model)
    assert h.n_tensors == len(ref.tensors)
    assert h.n_params == sum(int(t.n_elements) for t in ref.tensors)
    assert h.tensor_bytes == sum(int(t.n_bytes) for t in ref.tensors)
    assert h.data_offset == ref.data_offset
    assert h.arrays["tokenizer.ggml.tokens"] == ["string", len(ref.fields["tokenizer.ggml.tokens"].data)]
    by_type: dict[str, int] = {}
    for t in ref.tensors:
        by_type[t.tensor_type.name] = by_type.get(t.tensor_type.name, 0) + int(t.n_elements)
    assert h.type_elements == dict(sorted(by_type.items(), key=lambda kv: -kv[1]))


@pytest.mark.engine
def test_tensor_list_of_the_default_model_matches_gguf_package(default_model: Path) -> None:
    import gguf

    h, tensors = read_tensors(default_model)
    assert h == read_header(default_model)  # the same header, with or without the tensor list
    ref = gguf.GGUFReader(default_model)
    assert [(t.name, t.dims, t.type_name) for t in tensors] == [
        (t.name, tuple(int(d) for d in t.shape), t.tensor_type.name) for t in ref.tensors
    ]
    assert [h.data_offset + t.offset for t in tensors] == [int(t.data_offset) for t in ref.tensors]
    assert [t.nbytes for t in tensors] == [int(t.n_bytes) for t in ref.tensors]
    assert dict((t.name, t.dims) for t in tensors)["token_embd.weight"] == (576, 49152)
    last = max(tensors, key=lambda t: t.offset)
    assert h.data_offset + sum(t.padded_nbytes(h.alignment) for t in tensors) == h.file_size
    assert h.data_offset + last.offset + last.padded_nbytes(h.alignment) == h.file_size


@pytest.mark.engine
def test_header_round_trips_through_a_dict(default_model: Path) -> None:
    h = read_header(default_model)
    assert GGUFHeader.from_dict(h.to_dict()) == h
    assert GGUFHeader.from_dict({**h.to_dict(), "from_a_newer_version": 1}) == h


# -- synthetic files -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 262,144-token vocabulary (like Gemma 3's) with tiny tensors, written by the gguf package."""
    import gguf
    import numpy as np

    path = tmp_path_factory.mktemp("bigvocab") / "big-vocab.gguf"
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("Big Vocab")
    w.add_block_count(2)
    w.add_context_length(32768)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(1)
    w.add_tokenizer_model("llama")
    w.add_token_list([f"tok{i}".encode() for i in range(262_144)])
    w.add_token_scores([0.0] * 262_144)
    w.add_token_types([1] * 262_144)
    w.add_chat_template("{{ messages }}")
    w.add_tensor("token_embd.weight", np.zeros((4, 64), dtype=np.float32))
    for i in range(2):
        w.add_tensor(f"blk.{i}.attn_q.weight", np.zeros((64, 64), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_big_vocabulary(big_vocab: Path) -> None:
    h = read_header(big_vocab)
    assert h.vocab_size == 262_144
    assert h.arrays["tokenizer.ggml.tokens"] == ["string", 262_144]
    assert h.arrays["tokenizer.ggml.scores"] == ["f32", 262_144]
    assert "tokenizer.ggml.tokens" not in h.metadata  # long arrays: type and length only
    assert h.n_params == 4 * 64 + 2 * 64 * 64 and h.quant == "F16"  # no file_type: the most common type
    assert h.tensor_bytes == 4 * 64 * 4 + 2 * 64 * 64 * 2
    assert h.layer_bytes == [64 * 64 * 2] * 2 and h.embd_bytes == 4 * 64 * 4
    assert h.chat_template == "{{ messages }}" and h.architecture == "gemma3" and h.head_count_kv == 1


@pytest.mark.parametrize("version", [1, 2, 3])
def test_versions_1_to_3(tmp_path: Path, version: int) -> None:
    kvs = [("general.architecture", 8, "llama"), ("llama.block_count", 4, 1), ("general.file_type", 4, 7),
           ("llama.attention.head_count_kv", 9, (5, [2, 4])), ("flag", 7, True), ("pi", 12, 3.5)]  # fmt: skip
    h = read_header(write(tmp_path, build_gguf(kvs, version=version)))
    assert h.version == version and h.quant == "Q8_0" and h.n_params == 32 + 64
    assert h.kv_heads_per_layer == [2, 4] and h.head_count_kv == 4
    assert h.metadata["flag"] is True and h.metadata["pi"] == 3.5


def test_split_model(tmp_path: Path) -> None:
    for i in (1, 2, 3):
        kvs = [("general.architecture", 8, "llama"), ("llama.block_count", 4, 3), ("split.no", 2, i - 1),
               ("split.count", 2, 3)]  # fmt: skip
        write(tmp_path, build_gguf(kvs, [(f"blk.{i - 1}.w", [32, 4], 8)]), f"Big-Q8_0-{i:05d}-of-00003.gguf")
    part2 = tmp_path / "Big-Q8_0-00002-of-00003.gguf"
    assert split_info(part2) == ("Big-Q8_0", 2, 3)
    assert split_info(tmp_path / "plain.gguf") is None
    assert [p.name for p in split_parts(part2)][0] == "Big-Q8_0-00001-of-00003.gguf"
    h = read_model(part2)
    assert h.n_params == 3 * 128 and h.n_tensors == 3 and len(h.parts) == 3
    assert h.layer_bytes == [136, 136, 136] and h.file_size == sum(p.stat().st_size for p in split_parts(part2))
    (tmp_path / "Big-Q8_0-00003-of-00003.gguf").unlink()
    with pytest.raises(GGUFError, match="missing part 3 of 3"):
        read_model(part2)


def test_tensor_list_of_a_synthetic_file(tmp_path: Path) -> None:
    h, tensors = read_tensors(write(tmp_path, build_gguf(alignment=32)))
    assert tensors == [
        GGUFTensor("token_embd.weight", (8, 4), 0, 0, 8 * 4 * 4),
        GGUFTensor("blk.0.w", (32, 2), 8, 128, 2 * 34),
    ]
    assert [t.n_elements for t in tensors] == [32, 64] and [t.type_name for t in tensors] == ["F32", "Q8_0"]
    assert tensors[1].padded_nbytes(h.alignment) == 96 and tensors[0].padded_nbytes(h.alignment) == 128
    assert read_tensors(write(tmp_path, build_gguf(tensors=[]), "none.gguf"))[1] == []


# -- broken input: always a GGUFError with a reason ------------------------------------------------------------
def _good() -> bytes:
    return build_gguf()


def _patch(data: bytes, at: int, raw: bytes) -> bytes:
    return data[:at] + raw + data[at + len(raw) :]


FIRST_KEY = 24  # magic, version, n_tensors, n_kv


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"hello, I am a text file", "not a GGUF file"),
        (b"GGU", "not a GGUF file"),
        (_patch(_good(), 4, struct.pack("<I", 7)), "unsupported GGUF version 7"),
        (_patch(_good(), 4, struct.pack("<I", 0)), "unsupported GGUF version 0"),
        (_patch(_good(), 4, struct.pack(">I", 3)), "big-endian"),
        (_patch(_good(), 8, struct.pack("<Q", 1 << 60)), "tensors cannot fit"),
        (_patch(_good(), 16, struct.pack("<Q", 1 << 40)), "metadata entries cannot fit"),
        (_patch(_good(), FIRST_KEY, struct.pack("<Q", 1 << 62)), "truncated"),
        (_patch(_good(), FIRST_KEY + 8 + 20, struct.pack("<I", 13)), "unknown value type 13"),
        (_patch(_good(), FIRST_KEY + 8 + 20 + 4, struct.pack("<Q", 10**9)), "truncated"),
        (build_gguf([("a", 9, (8, ["x"] * 300))], tensors=[])[:-200], "truncated: the file ends inside the array"),
        (build_gguf([("a", 9, (4, [1, 2]))])[:52], "truncated: the file ends inside the array"),
        (build_gguf([("a", 4, 1), ("a", 4, 2)]), "duplicate metadata key"),
        (build_gguf([("general.alignment", 4, 24)]), "not a power of two"),
        (build_gguf([("general.architecture", 8, "x"), ("x.block_count", 10, 1 << 60)]), "implausible"),
        (build_gguf([("general.alignment", 8, "x")]), "not a power of two"),
        (build_gguf(tensors=[("t", [8], 99)]), "unknown ggml type 99"),
        (build_gguf(tensors=[("t", [1, 2, 3, 4, 5], 0)]), "5 dimensions"),
        (build_gguf(tensors=[("t", [33], 8)]), "impossible shape"),
        (build_gguf(tensors=[("t", [8], 0), ("t", [8], 0)]), "duplicate tensor"),
        (build_gguf()[:-40], "truncated: tensor 'blk.0.w' ends at byte"),
        (_good()[:30], "corrupt or truncated"),
        (_good()[:60], "truncated: the file ends inside"),
    ],
)
def test_bad_input_is_a_gguf_error(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(GGUFError, match=reason.replace("(", r"\(")):
        read_header(write(tmp_path, data))
    with pytest.raises(GGUFError, match=reason.replace("(", r"\(")):
        read_tensors(tmp_path / "m.gguf")
    with pytest.raises(GGUFError):
        parse_bytes(data)


def test_absurd_layer_numbers_are_not_layers(tmp_path: Path) -> None:
    h = read_header(write(tmp_path, build_gguf(tensors=[("blk.99999999999999.w", [8], 0), ("blk.1.w", [8], 0)])))
    assert h.layer_bytes == [0, 32] and h.output_bytes == 32


def test_nested_arrays_are_bounded(tmp_path: Path) -> None:
    nested = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _str("deep", 3) + struct.pack("<I", 9)
    nested += (struct.pack("<I", 9) + struct.pack("<Q", 1)) * 10 + struct.pack("<IQ", 4, 0)
    with pytest.raises(GGUFError, match="nested too deeply"):
        read_header(write(tmp_path, nested))


def test_tensor_offset_beyond_the_file(tmp_path: Path) -> None:
    data = bytearray(_good())
    at = data.rfind(b"blk.0.w") + len("blk.0.w") + 4 + 16 + 4  # name, n_dims, 2 dims, type -> offset
    data[at : at + 8] = struct.pack("<Q", 1 << 40)
    with pytest.raises(GGUFError, match="truncated: tensor 'blk.0.w'"):
        read_header(write(tmp_path, bytes(data)))


@pytest.mark.engine
def test_every_truncation_of_a_real_header_is_a_gguf_error(default_model: Path) -> None:
    h = read_header(default_model)
    with default_model.open("rb") as f:
        head = f.read(h.data_offset)
    step = max(1, len(head) // 300)
    for n in [*range(0, 64), *range(64, len(head), step)]:
        with pytest.raises(GGUFError):
            parse_bytes(head[:n], "cut.gguf")
    assert parse_bytes(head, file_size=h.file_size).n_params == h.n_params  # the whole header parses


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.symlink_to(p.parent / "nowhere.gguf"), "dangling symlink"),
        (lambda p: p.symlink_to(p), "symlink loop"),
        (lambda p: None, "file not found"),
    ],
)
def test_bad_paths(tmp_path: Path, make: Any, reason: str) -> None:
    path = tmp_path / "x.gguf"
    make(path)
    with pytest.raises(GGUFError, match=reason):
        read_header(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    import threading

    fifo = tmp_path / "pipe.gguf"
    os.mkfifo(fifo)
    result: list[BaseException | GGUFHeader] = []

    def target() -> None:
        try:
            result.append(read_header(fifo))
        except BaseException as exc:
            result.append(exc)

    worker = threading.Thread(target=target, daemon=True)  # opening a FIFO would block: never join forever
    worker.start()
    worker.join(30)
    if not result:  # it blocked in open(): unblock it by opening the writing end, then fail
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert result and isinstance(result[0], GGUFError) and "not a regular file" in str(result[0])


def test_gguf_error_is_a_value_error() -> None:
    assert issubclass(GGUFError, ValueError)


@functools.cache
def real_header() -> tuple[bytes, int]:
    """The default model's header bytes (up to its tensor data) and the file's size."""
    path = default_model_path()
    assert path is not None
    h = read_header(path)
    with path.open("rb") as f:
        return f.read(h.data_offset), h.file_size


@pytest.mark.engine
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_mutated_headers_only_raise_gguf_error(data: st.DataObject) -> None:
    head, file_size = real_header()
    buf = bytearray(head)
    regions = st.one_of(st.integers(0, 2048), st.integers(len(buf) - 20000, len(buf) - 1),
                        st.integers(0, len(buf) - 1))  # fmt: skip
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(regions)
        buf[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(buf))))
    chunk = bytes(buf if cut is None else buf[:cut])
    try:
        h = parse_bytes(chunk, "mutated.gguf", file_size)
    except GGUFError as exc:
        assert str(exc)
    else:
        assert isinstance(h, GGUFHeader) and h.n_tensors >= 0


@pytest.mark.engine
def test_read_header_does_not_leak_file_descriptors(default_model: Path, tmp_path: Path) -> None:
    before = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    bad = write(tmp_path, _good()[:40])
    for _ in range(20):
        read_header(default_model)
        with pytest.raises(GGUFError):
            read_header(bad)
    after = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0
    assert after <= before
