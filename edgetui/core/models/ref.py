"""ModelRef: which model to load, a local GGUF file or a model on a configured OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

# The text of a remote model, `openai:<endpoint name>/<model id>`: stored as is in sessions, app state and
# config.toml's `model`, so it must keep reading the same. The model id is percent-encoded ("/" -> %2F) and ''
# (the endpoint's own model) is written `openai:<endpoint name>`; in the endpoint name only "%" and "/" are.
REMOTE_PREFIX = "openai:"
_MODEL_SAFE = ":@-._~+"


def _escape_name(name: str) -> str:
    return name.replace("%", "%25").replace("/", "%2F")


@dataclass(frozen=True, eq=False)
class ModelRef:
    """A model to load: `file` (local), or `model` on the endpoint named `endpoint` ('' = the endpoint's own model).

    Two refs to the same local file are equal (and hash the same) through any alias of it: a relative path, `~`,
    a symbolic link. Build one with `ModelRef.parse` (any text, path or ref), `ModelRef.local` or `ModelRef.remote`.
    """

    file: Path | None = None
    endpoint: str = ""
    model: str = ""
    _key: tuple[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        local = self.file is not None
        key = ("", os.path.realpath(self.file)) if local else (REMOTE_PREFIX + self.endpoint, self.model)
        object.__setattr__(self, "_key", key)

    @classmethod
    def local(cls, path: str | os.PathLike[str]) -> ModelRef:
        """A GGUF file (`~` expanded)."""
        return cls(file=Path(path).expanduser())

    @classmethod
    def remote(cls, endpoint: str, model: str = "") -> ModelRef:
        """`model` on the configured endpoint `endpoint` ('' = the endpoint's configured model, else its first)."""
        return cls(endpoint=endpoint, model=model)

    @classmethod
    def parse(cls, value: str | os.PathLike[str] | ModelRef) -> ModelRef:
        """A ref from what names a model: `openai:<endpoint>[/<model>]`, a file path, or a ref (returned as is).

        ValueError for empty text."""
        if isinstance(value, ModelRef):
            return value
        text = os.fspath(value)
        if not text:
            raise ValueError("no model given")
        if not text.startswith(REMOTE_PREFIX):
            return cls.local(text)
        name, _, model = text[len(REMOTE_PREFIX) :].partition("/")
        return cls.remote(unquote(name), unquote(model))

    @property
    def is_remote(self) -> bool:
        return self.file is None

    @property
    def path(self) -> Path:
        """The local file; ValueError for a remote model (it has none)."""
        if self.file is None:
            raise ValueError(f"{self} is a remote model: it has no file")
        return self.file

    @property
    def name(self) -> str:
        """What the UI shows: the file's name, or `<endpoint>/<model>` (the endpoint alone for its own model)."""
        if self.file is not None:
            return self.file.name
        return f"{self.endpoint}/{self.model}" if self.model else self.endpoint

    def __str__(self) -> str:
        if self.file is not None:
            return str(self.file)
        text = REMOTE_PREFIX + _escape_name(self.endpoint)
        return f"{text}/{quote(self.model, safe=_MODEL_SAFE)}" if self.model else text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModelRef):
            return NotImplemented
        return self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)
