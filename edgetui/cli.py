"""argparse entry point: `edgetui` starts the TUI; subcommands run headless (models, fit, bench, compare, ...)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module in edgetui/commands/ defines `register(subparsers)`, which adds its subcommand(s) and sets
# `func(args) -> int` on them. Listed here so that start-up imports none of them until one is asked for.
COMMAND_MODULES = ("models", "fit", "pull", "quantize", "bench", "compare", "sessions", "export", "serve")


def build_parser(load_commands: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgetui",
        description="Run language models on your own hardware, from the terminal.",
    )
    parser.add_argument("--model", "-m", help="GGUF file to load at start (default: the bundled SmolLM2)")
    parser.add_argument("--ctx", type=int, help="context size in tokens (default 4096)")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical cores)")
    parser.add_argument("--gpu-layers", type=int, help="layers to offload to the GPU (-1 all, -2 auto)")
    parser.add_argument("--db", help="sessions database file (default: in the user data dir)")
    parser.add_argument("--new", action="store_true", help="start with a new, empty session (not the last one)")
    parser.add_argument("--low-redraw", action="store_true", default=None, help="fewer screen updates (slow links)")
    parser.add_argument("--web", action="store_true", help="serve the TUI in a browser on 127.0.0.1 (textual-serve)")
    parser.add_argument("--port", type=int, default=8000, help="port for --web (default 8000)")
    parser.add_argument("--web-host", default="127.0.0.1", help="address for --web (default 127.0.0.1: loopback only)")
    parser.add_argument("--version", action="version", version=_version())
    if load_commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name in COMMAND_MODULES:
            try:
                module = importlib.import_module(f"edgetui.commands.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"edgetui.commands.{name}":
                    raise
                continue
            module.register(sub)
    return parser


def _version() -> str:
    from edgetui import __version__

    return f"edgetui {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # The TUI path builds a parser without importing the subcommand modules: start-up stays fast.
    wants_command = any(a in COMMAND_MODULES for a in args_list if not a.startswith("-"))
    parser = build_parser(load_commands=wants_command or "-h" in args_list or "--help" in args_list)
    args = parser.parse_args(args_list)
    from edgetui.config import ConfigError

    func = getattr(args, "func", None)
    try:
        if func is not None:
            from edgetui.commands.common import guard_terminal

            guard_terminal()  # what a headless command prints: no escape sequence from its text reaches a terminal
            return int(func(args) or 0)
        from edgetui.commands.tui import run_tui

        return run_tui(args)
    except ConfigError as exc:  # (the commands say it themselves; this is for any that does not)
        print(f"edgetui: bad configuration: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
