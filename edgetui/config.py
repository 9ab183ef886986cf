"""Typed settings from config.toml and EDGETUI_* environment variables, built at start-up, never at import."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, get_type_hints

from pydantic import Field, TypeAdapter, ValidationError

from edgetui.core.types import SamplerSettings
from edgetui.paths import Paths


class ConfigError(ValueError):
    """The config file or an EDGETUI_* variable holds a value of the wrong type or out of range (one line, naming
    the key, where it is and what is expected)."""


@dataclass(frozen=True)
class Endpoint:
    """A remote OpenAI-compatible server; the API key is read from `api_key_env` at use, never stored."""

    name: Annotated[str, Field(min_length=1, strict=True)]
    base_url: Annotated[str, Field(pattern=r"^https?://\S+$", strict=True)]
    model: Annotated[str, Field(strict=True)] = ""
    api_key_env: Annotated[str, Field(strict=True)] = ""
    timeout_s: Annotated[float, Field(gt=0, strict=True)] = 60.0


@dataclass(frozen=True)
class Config:
    """Every setting the app reads; the defaults are what a fresh install uses. Field()s are what config.toml and
    EDGETUI_* may hold, checked at start-up (`Config.load`)."""

    model: Annotated[str, Field(strict=True)] = ""
    n_ctx: Annotated[int, Field(ge=1, strict=True)] = 4096
    # 0 = number of physical cores; more than the CPUs this process may use is brought down to them (said in `notes`)
    n_threads: Annotated[int, Field(ge=0, strict=True)] = 0
    # -2 = auto (all when the fit estimate says the model fits in VRAM), -1 = all
    n_gpu_layers: Annotated[int, Field(ge=-2, strict=True)] = -2
    model_dirs: tuple[Annotated[str, Field(strict=True)], ...] = ()
    system_prompt: Annotated[str, Field(strict=True)] = ""
    db: Annotated[str, Field(strict=True)] = ""
    low_redraw: Annotated[bool, Field(strict=True)] = False
    # True: llama.cpp in a child process (crash isolation), else in this process
    engine_process: Annotated[bool, Field(strict=True)] = False
    scan_hf_cache: Annotated[bool, Field(strict=True)] = True
    scan_ollama: Annotated[bool, Field(strict=True)] = True
    scan_lmstudio: Annotated[bool, Field(strict=True)] = True
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    endpoints: tuple[Endpoint, ...] = ()
    unknown: tuple[str, ...] = field(default=(), compare=False)  # keys of the file this version does not know
    notes: tuple[str, ...] = field(default=(), compare=False)  # values start-up brought into range, said once

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
        """Defaults, then config.toml, then EDGETUI_* variables, then explicit overrides (CLI flags); the whole of
        it checked against the fields' types and ranges. Unknown keys are left out (an older version reads a newer
        file) and said in `Config.unknown`."""
        env = os.environ if environ is None else environ
        source = paths.config_file
        text = ""
        data: dict[str, Any] = {}
        if source.is_file():
            try:
                text = source.read_text(encoding="utf-8")
                data = tomllib.loads(text)
            except OSError as exc:
                raise ConfigError(f"{source}: cannot read it: {exc.strerror or exc}") from exc
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
        unknown = _unknown_keys(data)
        where: dict[str, str] = {}  # a key given by an EDGETUI_* variable: its name, for the error
        hints = get_type_hints(cls)
        for f in fields(cls):
            key = f"EDGETUI_{f.name.upper()}"
            if key in env and f.name not in ("sampler", "endpoints"):
                data[f.name] = _from_env(env[key], hints[f.name], key)
                where[f.name] = key
        for name, value in overrides.items():
            if value is not None:
                data[name] = value
                where[name] = FLAGS.get(name, "the command line")
        try:
            config = _ADAPTER.validate_python(_known(data))
        except ValidationError as exc:
            raise ConfigError(_describe(exc, source, text, where)) from None
        cpus = usable_cpus()
        notes: list[str] = []
        if config.n_threads > cpus:  # (1,000 threads on 2 CPUs ran at 0.1 tok/s)
            origin = where.get("n_threads", str(source))
            what = (
                f"{origin} {config.n_threads}"
                if origin.startswith("--")
                else f"n_threads {config.n_threads} ({origin})"
            )
            notes.append(f"{what} is more than the {cpus} CPU(s) this machine gives edgetui: {cpus} are used")
            config = replace(config, n_threads=cpus)
        return replace(config, unknown=tuple(unknown), notes=tuple(notes))


FLAGS = {"n_ctx": "--ctx", "n_threads": "--threads", "n_gpu_layers": "--gpu-layers", "model": "--model", "db": "--db"}


def usable_cpus() -> int:
    """The CPUs this process may run on (a container's or taskset's share, not the whole machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # (not on Linux)
        return max(1, os.cpu_count() or 1)


def sampler_from(values: dict[str, Any], base: SamplerSettings | None = None) -> SamplerSettings:
    """`base` with `values` applied, checked against the sampler's types and ranges (the settings dialog's, say);
    ValueError says the first mistake in one line."""
    merged = {**(base or SamplerSettings()).as_dict(), **values}
    try:
        return _SAMPLER.validate_python(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        kind, ctx, name = error["type"], error.get("ctx") or {}, _dotted(tuple(error["loc"]))
        if kind in _BOUNDS:
            words, bound = _BOUNDS[kind]
            expected = f"{words} {ctx.get(bound)}"
        else:
            expected = _EXPECTED.get(kind, error["msg"].lower())
        raise ValueError(f"{name} must be {expected}, not {_toml(error.get('input'))}") from None


KNOWN_KEYS: dict[str, frozenset[str]] = {
    "": frozenset(f.name for f in fields(Config) if f.name not in ("unknown", "notes")),
    "sampler": frozenset(f.name for f in fields(SamplerSettings)),
    "endpoints": frozenset(f.name for f in fields(Endpoint)),
}
_ADAPTER: TypeAdapter[Config] = TypeAdapter(Config)
_SAMPLER: TypeAdapter[SamplerSettings] = TypeAdapter(SamplerSettings)


def _known(data: dict[str, Any]) -> dict[str, Any]:
    """`data` without the keys this version does not know (a newer version's, or a typo: said as a warning)."""
    out = {k: v for k, v in data.items() if k in KNOWN_KEYS[""]}
    if isinstance(out.get("sampler"), dict):
        out["sampler"] = {k: v for k, v in out["sampler"].items() if k in KNOWN_KEYS["sampler"]}
    if isinstance(out.get("endpoints"), list):
        out["endpoints"] = [
            {k: v for k, v in ep.items() if k in KNOWN_KEYS["endpoints"]} if isinstance(ep, dict) else ep
            for ep in out["endpoints"]
        ]
    return out


def _unknown_keys(data: dict[str, Any]) -> list[str]:
    names = [k for k in data if k not in KNOWN_KEYS[""]]
    if isinstance(data.get("sampler"), dict):
        names += [f"sampler.{k}" for k in data["sampler"] if k not in KNOWN_KEYS["sampler"]]
    for i, ep in enumerate(data.get("endpoints") if isinstance(data.get("endpoints"), list) else ()):
        if isinstance(ep, dict):
            names += [f"endpoints[{i}].{k}" for k in ep if k not in KNOWN_KEYS["endpoints"]]
    return names


# What each kind of mistake expects, in the words of a config file.
_EXPECTED = {
    "int_type": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": 'text in quotes ("...")',
    "tuple_type": 'a list, like ["/srv/models"]',
    "dataclass_type": "a table",
    "missing_argument": "set (it is required)",
    "missing": "set (it is required)",
    "string_too_short": "not empty",
    "string_pattern_mismatch": "an http:// or https:// address",
}
_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _describe(exc: ValidationError, source: Path, text: str, where: dict[str, str]) -> str:
    """One line for the first mistake: where it is (file and line, or the variable), the key, what it must be."""
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    key = _dotted(loc)
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _BOUNDS:
        words, bound = _BOUNDS[kind]
        expected = f"{words} {ctx.get(bound)}"
    elif loc == ("endpoints",) or (kind == "tuple_type" and loc[:1] == ("endpoints",)):
        expected = "a list of [[endpoints]] tables, each with a name and a base_url"
    elif loc[:1] == ("endpoints",) and kind == "dataclass_type":
        expected = "an [[endpoints]] table with a name and a base_url"
    else:
        expected = _EXPECTED.get(kind, error["msg"].lower())
    got = "" if kind in ("missing", "missing_argument") else f", not {_toml(error.get('input'))}"
    origin = where.get(str(loc[0])) if loc else None
    if origin is not None and origin.startswith("--"):  # a flag: said as it was typed
        return f"{origin} must be {expected}{got}"
    if origin is None:
        line = _line_of(text, loc)
        origin = f"{source}, line {line}" if line else str(source)
    return f"{origin}: {key} must be {expected}{got}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _toml(value: Any) -> str:
    """A value as it reads in TOML (true, not True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The line of config.toml where `loc` (('n_ctx',), ('sampler', 'temperature'), ('endpoints', 0, 'name')) is
    set, or where its table starts; 0 when it cannot be told (tomllib gives no positions: a plain scan)."""
    if not loc:
        return 0
    table, index, key = "", -1, str(loc[0])
    if len(loc) >= 3 and isinstance(loc[1], int):  # a key of the n-th [[table]]
        table, index, key = str(loc[0]), loc[1], str(loc[2])
    elif len(loc) >= 2 and isinstance(loc[1], str):  # a key of a [table]
        table, key = str(loc[0]), loc[1]
    assign = re.compile(rf"^{re.escape(key)}\s*=") if key else None
    current, seen, found = "", -1, 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[\[?\s*([A-Za-z0-9_.-]+)\s*\]\]?", line)
        if header:
            current = header.group(1)
            if not table and current == key:
                return number  # the key is a table itself ([endpoints] where [[endpoints]] was meant)
            if current == table:
                seen += line.startswith("[[")
                if index < 0 or seen == index:
                    found = found or number
            continue
        if assign is None or not assign.match(line):
            continue
        if (not table and not current) or (current == table and (index < 0 or seen == index)):
            return number
    return found


def _from_env(raw: str, hint: Any, key: str) -> Any:
    """An EDGETUI_* variable's text as the field's type (the check against the field comes after)."""
    if hint is bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key} must be 1 or 0 (true or false), not {raw!r}")
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if hint == tuple[str, ...]:
        return tuple(p for p in raw.split(os.pathsep) if p)
    return raw
