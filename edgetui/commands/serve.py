"""`edgetui serve`: a local model behind llama-cpp-python's OpenAI-compatible server, in the foreground."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgetui.commands.common import fail, gpu_layers_arg, load_settings, model_arg


def register(subparsers: Any) -> None:
    from edgetui.core.tools.serve import DEFAULT_HOST, DEFAULT_PORT

    p = subparsers.add_parser(
        "serve",
        help="serve a model over the OpenAI API (for edgetui on another machine)",
        description="Run llama-cpp-python's OpenAI-compatible server on a local GGUF model, in the foreground "
        "(Ctrl+C stops it). Another edgetui reaches it through an [[endpoints]] entry in its config.toml; "
        "across machines, keep the default host and use an SSH tunnel.",
    )
    p.add_argument(
        "serve_model",
        nargs="?",
        metavar="MODEL",
        help="GGUF file (default: --model, the configured model, or the bundled SmolLM2)",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help=f"interface to listen on (default {DEFAULT_HOST})")
    p.add_argument(
        "--port",
        dest="serve_port",
        metavar="N",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0 = any free port)",
    )
    # SUPPRESS: `edgetui --ctx 2048 serve` keeps the top-level value instead of being reset by this parser.
    p.add_argument(
        "--ctx", metavar="N", type=int, default=argparse.SUPPRESS, help="context size in tokens (default 4096)"
    )
    p.add_argument(
        "--threads", metavar="N", type=int, default=argparse.SUPPRESS, help="CPU threads (default: physical cores)"
    )
    p.add_argument(
        "--gpu-layers",
        metavar="N",
        type=int,
        default=argparse.SUPPRESS,
        help="layers to offload to the GPU (-1 all; default: all when the build has a GPU backend)",
    )
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        default="",
        help="require the API key held in environment variable VAR (advised off 127.0.0.1)",
    )
    p.add_argument("--name", default="", help="endpoint name in the printed config snippet (default: hostname)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgetui.config import ConfigError
    from edgetui.core.tools.serve import Serve, ServeOptions
    from edgetui.core.types import EngineError

    try:
        paths, cfg = load_settings(n_ctx=getattr(args, "ctx", None), n_threads=getattr(args, "threads", None))
    except ConfigError as exc:
        return fail(str(exc))
    try:
        model = model_arg(args.serve_model or getattr(args, "model", None), cfg)
    except ValueError as exc:
        return fail(str(exc))
    if model is None:
        return fail("no model given and the bundled default model is not installed (`make setup`)")
    if args.serve_port < 0 or args.serve_port > 65535:
        return fail(f"--port must be between 0 and 65535, not {args.serve_port}", 2)
    options = ServeOptions(
        host=args.host,
        port=args.serve_port,
        n_ctx=cfg.n_ctx,
        n_threads=cfg.threads,
        n_gpu_layers=gpu_layers_arg(getattr(args, "gpu_layers", None), cfg.n_gpu_layers),
        api_key_env=args.api_key_env,
    )
    server = Serve(model, options, capture=False)
    _stop_on_sigterm()  # `kill` must not leave the server behind
    if server.warning:
        print(f"edgetui: warning: {server.warning}", file=sys.stderr)
    try:
        server.start()
        print(
            f"edgetui: loading {model.name} (n_ctx {options.n_ctx}, {options.n_threads} threads, "
            f"{options.n_gpu_layers} GPU layers)...",
            file=sys.stderr,
        )
        server.wait_ready()
    except EngineError as exc:
        server.stop()
        return fail(str(exc))
    except KeyboardInterrupt:
        server.stop()
        return 130
    _print_usage(server, args.name, paths.config_file)
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        server.stop()
    return 0 if code in (0, -2, -15) else fail(f"the server stopped with code {code}")


def _print_usage(server: Any, name: str, config_file: Path) -> None:
    import socket

    from edgetui.core.tools.serve import is_loopback

    port, host = server.port, server.options.host
    local = is_loopback(host)
    bound = ", ".join(server.listening()) or f"{host}:{port}"
    print(f"\nServing {server.model_alias} at {server.url}  (OpenAI API; Ctrl+C stops)", flush=True)
    print(f"Listening on {bound}" + ("" if local else "  (reachable from other machines)") + "\n", flush=True)
    print(f"Point edgetui at it: add this to its config.toml ({config_file} on this machine)\n")
    wildcard = host in ("", "0.0.0.0", "::")
    print(server.endpoint_toml(name, "" if local else socket.gethostname() if wildcard else host))
    if local:
        print(f"\nFrom another machine, open an SSH tunnel first:  ssh -N -L {port}:127.0.0.1:{port} THIS-HOST")
    print(flush=True)


def _stop_on_sigterm() -> None:
    import signal

    def _interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: whoever runs us handles signals
        pass
