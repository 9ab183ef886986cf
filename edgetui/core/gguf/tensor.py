"""GGUFTensor: one tensor as a GGUF header lists it (name, shape, ggml type, where its data lies)."""

from __future__ import annotations

from dataclasses import dataclass

from edgetui.core.gguf.header import GGML_TYPES


@dataclass(frozen=True)
class GGUFTensor:
    """One entry of a GGUF file's tensor list, already checked against the file by the reader."""

    name: str
    dims: tuple[int, ...]  # ggml order: dims[0] is the row length
    ggml_type: int
    offset: int  # from the start of the tensor data (GGUFHeader.data_offset)
    nbytes: int  # the tensor's own bytes, without the padding to the file's alignment

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.ggml_type][0]

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n

    def padded_nbytes(self, alignment: int) -> int:
        """Bytes the tensor takes in the file: its own, padded up to `alignment` (as llama.cpp writes them)."""
        return self.nbytes + (-self.nbytes % alignment)
