"""The one place engines are made: llama.cpp in this process or in a child one, or an OpenAI-compatible endpoint."""

from __future__ import annotations

from collections.abc import Sequence

from edgetui.config import Config, Endpoint
from edgetui.core.engines.llama import Engine, LlamaEngine
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import EngineError


def find_endpoint(ref: ModelRef, endpoints: Sequence[Endpoint]) -> Endpoint:
    """The configured endpoint a remote ref names; EngineError naming the configured ones when there is none."""
    found = next((ep for ep in endpoints if ep.name == ref.endpoint), None)
    if found is None:
        known = ", ".join(repr(ep.name) for ep in endpoints) or "none"
        raise EngineError(
            f"No endpoint named {ref.endpoint!r} for {ref}: add it to config.toml's [[endpoints]] (configured: {known})"
        )
    return found


def make_engine(ref: ModelRef | None, config: Config) -> Engine:
    """The engine that loads `ref` (None: any local file): an OpenAIEngine on its configured endpoint for a remote
    ref; for a local one a LlamaEngine, or a ProcessEngine (llama.cpp in a child process) with `engine_process`.
    Nothing is loaded yet; an unknown endpoint is an EngineError."""
    if ref is not None and ref.is_remote:
        from edgetui.core.engines.remote import OpenAIEngine

        return OpenAIEngine(find_endpoint(ref, config.endpoints))
    if config.engine_process:
        from edgetui.core.engines.process import ProcessEngine

        return ProcessEngine()
    return LlamaEngine()
