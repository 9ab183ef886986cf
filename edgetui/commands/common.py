"""Helpers shared by the subcommands: settings from the environment, JSON output, errors for the user."""

from __future__ import annotations

import json
import sys
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
