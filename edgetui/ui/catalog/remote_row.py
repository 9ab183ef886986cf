"""A configured OpenAI-compatible endpoint as a row of the catalog (the pane and the details screen both show it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgetui.config import Endpoint
from edgetui.core.models.ref import ModelRef


@dataclass(frozen=True)
class RemoteRow:
    """A configured OpenAI-compatible endpoint, listed as a model."""

    endpoint: Endpoint

    @property
    def path(self) -> ModelRef:
        return ModelRef.remote(self.endpoint.name, self.endpoint.model)

    @property
    def name(self) -> str:
        return self.path.name

    def owns(self, path: ModelRef | Path | str) -> bool:
        """True for any model of this endpoint (its own, or another model id on it)."""
        ref = ModelRef.parse(path)
        return ref.is_remote and ref.endpoint == self.endpoint.name
