"""Typed settings from config.toml and EDGETUI_* environment variables, built at start-up, never at import."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from edgetui.core.types import SamplerSettings
from edgetui.paths import Paths


class ConfigError(ValueError):
    """The config file or an EDGETUI_* variable holds a value of the wrong type."""


@dataclass(frozen=True)
class Endpoint:
    """A remote OpenAI-compatible server; the API key is read from `api_key_env` at use, never stored."""

    name: str
    base_url: str
    model: str = ""
    api_key_env: str = ""
    timeout_s: float = 60.0


@dataclass(frozen=True)
class Config:
    """Every setting the app reads; the defaults are what a fresh install uses."""

    model: str = ""
    n_ctx: int = 4096
    n_threads: int = 0  # 0 = number of physical cores
    n_gpu_layers: int = -2  # -2 = auto (all when the fit estimate says the model fits in VRAM), -1 = all
    model_dirs: tuple[str, ...] = ()
    system_prompt: str = ""
    db: str = ""
    low_redraw: bool = False
    engine_process: bool = False  # True: llama.cpp in a child process (crash isolation), else in this process
    scan_hf_cache: bool = True
    scan_ollama: bool = True
    scan_lmstudio: bool = True
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def threads(self) -> int:
        if self.n_threads > 0:
            return self.n_threads
        import psutil

        return max(1, psutil.cpu_count(logical=False) or os.cpu_count() or 1)

    def db_path(self, paths: Paths) -> Path:
        return Path(self.db).expanduser() if self.db else paths.db_path

    @classmethod
    def load(cls, paths: Paths, environ: dict[str, str] | None = None, **overrides: Any) -> Config:
        """Defaults, then config.toml, then EDGETUI_* variables, then explicit overrides (CLI flags)."""
        env = os.environ if environ is None else environ
        data: dict[str, Any] = {}
        if paths.config_file.is_file():
            try:
                data = tomllib.loads(paths.config_file.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"{paths.config_file}: {exc}") from exc
        hints = get_type_hints(cls)
        for f in fields(cls):
            key = f"EDGETUI_{f.name.upper()}"
            if key in env and f.name not in ("sampler", "endpoints"):
                data[f.name] = _from_env(env[key], hints[f.name], key)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return _build(cls, data)


def _from_env(raw: str, hint: Any, key: str) -> Any:
    if hint is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if hint is int:
        try:
            return int(raw)
        except ValueError as exc:
            raise ConfigError(f"{key} must be an integer, got {raw!r}") from exc
    if hint == tuple[str, ...]:
        return tuple(p for p in raw.split(os.pathsep) if p)
    return raw


def _build(cls: type, data: dict[str, Any]) -> Any:
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    known = {f.name for f in fields(cls)}
    for name, value in data.items():
        if name not in known:
            continue  # unknown keys are ignored so that older versions read newer files
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table")
            kwargs[name] = _build(hint, value)
        elif name == "endpoints":
            kwargs[name] = tuple(_build(Endpoint, dict(v)) for v in value)
        elif hint == tuple[str, ...]:
            kwargs[name] = tuple(str(v) for v in value)
        elif hint is float and isinstance(value, int | float):
            kwargs[name] = float(value)
        elif hint in (int, str, bool) and not isinstance(value, hint):
            raise ConfigError(f"{name} must be {hint.__name__}, got {value!r}")
        else:
            kwargs[name] = value
    return cls(**kwargs)
