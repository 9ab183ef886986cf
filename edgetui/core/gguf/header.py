"""GGUFHeader: what a GGUF file says about its model, and the ggml tensor types whose sizes it adds up."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from edgetui.core.gguf.files import ftype_name

GGUF_DEFAULT_ALIGNMENT = 32

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
# fmt: on


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


def finish_header(h: GGUFHeader) -> None:
    """Derived fields: quantization name and bits per weight."""
    if h.file_type is not None:
        h.quant = ftype_name(h.file_type & ~1024)  # 1024 = LLAMA_FTYPE_GUESSED
    elif h.type_elements:
        h.quant = max(h.type_elements.items(), key=lambda kv: kv[1])[0]
    h.bits_per_weight = round(h.tensor_bytes * 8 / h.n_params, 4) if h.n_params else 0.0
