"""Plain data types shared by the core services and the UI."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field


class EngineError(Exception):
    """A model could not be loaded or run; the message is written for the user."""


class StopReason(enum.StrEnum):
    EOS = "eos"
    LENGTH = "length"
    CANCELLED = "cancelled"
    ERROR = "error"


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class SamplerSettings:
    """Sampling settings; seed -1 means a random seed for every answer. The Field()s are the valid ranges, checked
    where values come from outside (config.toml, the settings dialog): `validate_sampler`."""

    temperature: Annotated[float, Field(ge=0, strict=True)] = 0.7
    top_p: Annotated[float, Field(ge=0, le=1, strict=True)] = 0.95
    top_k: Annotated[int, Field(ge=0, strict=True)] = 40
    min_p: Annotated[float, Field(ge=0, le=1, strict=True)] = 0.05
    repeat_penalty: Annotated[float, Field(gt=0, strict=True)] = 1.1
    seed: Annotated[int, Field(ge=-1, strict=True)] = -1
    max_tokens: Annotated[int, Field(ge=1, strict=True)] = 512

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, values: Mapping[str, Any]) -> SamplerSettings:
        """These settings with `values` applied (a stored JSON object, say): unknown keys, and values that are not
        numbers of the field's kind, are left out."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = values.get(f.name)
            kind = type(getattr(self, f.name))
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if kind is int and not float(value).is_integer():
                continue
            changes[f.name] = kind(value)
        return replace(self, **changes)

    @classmethod
    def greedy(cls, max_tokens: int = 128, seed: int = 0) -> SamplerSettings:
        return cls(
            temperature=0.0,
            top_p=1.0,
            top_k=1,
            min_p=0.0,
            repeat_penalty=1.0,
            seed=seed,
            max_tokens=max_tokens,
        )


@dataclass(frozen=True)
class LoadOptions:
    n_ctx: int = 4096
    n_threads: int = 2
    n_gpu_layers: int = 0  # -1 = all layers
    n_batch: int = 512


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed text: `t` is time.perf_counter() when it arrived, `tokens` how many it carries."""

    text: str
    t: float
    tokens: int = 1


@dataclass
class GenerationStats:
    """The performance record of one answer."""

    stop_reason: StopReason = StopReason.EOS
    ttft_s: float = 0.0
    prompt_tokens: int = 0
    prompt_eval_tokens: int = 0  # prompt tokens actually evaluated (the rest came from the KV cache)
    prompt_tps: float = 0.0
    gen_tokens: int = 0
    gen_tps: float = 0.0
    total_s: float = 0.0
    error: str | None = None
    note: str = ""  # something the user should know about this answer (e.g. it came back empty)
    engine_timings: dict[str, Any] = field(default_factory=dict)  # as the engine or server reported them

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop_reason"] = str(self.stop_reason)
        return d


@dataclass(frozen=True)
class ModelInfo:
    """What the engine knows about the model it has loaded."""

    path: Path | str  # the file; a remote model's ModelRef text, `openai:<endpoint>/<model>` (edgetui.core.models.ref)
    name: str
    n_ctx: int
    n_ctx_train: int = 0
    n_params: int = 0
    size_bytes: int = 0
    quant: str = ""
    chat_template: str = "gguf"  # "gguf", or the name of the fallback format used
    chat_template_note: str = ""  # shown to the user when a fallback is used
    n_gpu_layers: int = 0
    n_threads: int = 0
    load_s: float = 0.0
    rss_delta_bytes: int = 0
    backend: str = "cpu"
    engine: str = "llama.cpp"
