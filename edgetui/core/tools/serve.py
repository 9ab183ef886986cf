"""Serve: llama-cpp-python's OpenAI-compatible server (`llama_cpp.server`) on a local model, as a subprocess."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from edgetui.core.gguf.files import check_gguf_file
from edgetui.core.types import EngineError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080  # llama-server's; edgetui --web takes 8000
# Environment variables that llama_cpp.server would read as settings (pydantic-settings, any case) or as
# overrides of --host/--port (its __main__ reads HOST and PORT): they are removed from the server's environment
# so that a stray `PORT=...` in the user's shell cannot move it. Completed from its Settings at run time.
_ALWAYS_SCRUBBED = {"HOST", "PORT", "CONFIG_FILE", "MODEL", "API_KEY", "N_CTX", "N_GPU_LAYERS", "VERBOSE"}


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when the thread that started it ends


def _die_with_parent(parent: int) -> None:
    """In the server process, before it runs: SIGTERM when edgetui ends, even by SIGKILL (Linux; elsewhere the
    server outlives a killed edgetui, as any child does). A parent already gone by then: exit at once."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # (no prctl: not Linux)
        return
    if os.getppid() != parent:
        os._exit(1)


class ServeError(EngineError):
    """The server could not start or answer; the message is written for the user."""


@dataclass(frozen=True)
class ServeOptions:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0 = any free port
    n_ctx: int = 4096
    n_threads: int = 2
    n_gpu_layers: int = 0  # -1 = all layers
    model_alias: str = ""  # the model id clients see; '' = the file name without .gguf
    api_key_env: str = ""  # require the key held in this environment variable (never on the command line)
    verbose: bool = False  # llama.cpp's own log lines


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def client_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to `host` (URL form)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def host_warning(host: str, with_key: bool) -> str:
    """A warning for a server bound to another interface than loopback ('' when it is loopback)."""
    if is_loopback(host):
        return ""
    who = "any machine that can reach this one" if host in ("0.0.0.0", "::", "") else f"anyone who can reach {host}"
    key = "only with the API key" if with_key else "with NO API key (see --api-key-env)"
    return (
        f"listening on {host}: {who} can use this model, {key}, over plain HTTP. Safer: keep 127.0.0.1 and "
        "reach it through an SSH tunnel (ssh -N -L PORT:127.0.0.1:PORT this-machine)."
    )


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on `host` right now."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host.strip("[]"), 0))
        return int(s.getsockname()[1])


def _check_port(host: str, port: int) -> None:
    try:
        infos = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"Cannot listen on {host!r}: {exc.strerror or exc}") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except PermissionError:
            raise ServeError(f"Port {port} needs privileges on this system: pick one above 1023 with --port") from None
        except OSError as exc:
            raise ServeError(
                f"Cannot listen on {host} port {port}: {exc.strerror or exc} (pick another with --port)"
            ) from None


def server_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the server process: ours, less what llama_cpp.server would take as its settings."""
    names = set(_ALWAYS_SCRUBBED)
    try:
        from llama_cpp.server.settings import Settings

        names |= {n.upper() for n in Settings.model_fields}
    except Exception:  # the [server] extra is missing: start() will say so through the server's own error
        pass
    return {k: v for k, v in (os.environ if environ is None else environ).items() if k.upper() not in names}


def build_command(model: Path, options: ServeOptions, port: int) -> list[str]:
    """The llama_cpp.server command line (the API key never goes on it: it travels in the environment)."""
    alias = options.model_alias or model.name.removesuffix(".gguf")
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", alias,
        "--host", options.host.strip("[]"), "--port", str(port),
        "--n_ctx", str(options.n_ctx),
        "--n_threads", str(options.n_threads), "--n_threads_batch", str(options.n_threads),
        "--n_gpu_layers", str(max(-1, options.n_gpu_layers)),
        "--verbose", "true" if options.verbose else "false",
    ]  # fmt: skip


class Serve:
    """One llama_cpp.server subprocess: start(), wait_ready(), then stop() (or use it as a context manager)."""

    def __init__(self, model: str | Path, options: ServeOptions | None = None, capture: bool = True) -> None:
        """`capture`: keep the server's output in a log file (its tail explains failures); False: inherit the
        terminal (foreground `edgetui serve`)."""
        self.model = Path(model).expanduser()
        self.options = options or ServeOptions()
        self.capture = capture
        self.port = self.options.port
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def model_alias(self) -> str:
        return self.options.model_alias or self.model.name.removesuffix(".gguf")

    @property
    def root_url(self) -> str:
        return f"http://{client_host(self.options.host)}:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI API base URL, for an [[endpoints]] entry's base_url."""
        return f"{self.root_url}/v1"

    @property
    def warning(self) -> str:
        return host_warning(self.options.host, bool(self.options.api_key_env))

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def command(self) -> list[str]:
        return build_command(self.model, self.options, self.port)

    def start(self) -> Serve:
        """Check the model and the port, then start the server (it is not ready yet: see wait_ready)."""
        check_gguf_file(self.model)
        missing = [m for m in ("uvicorn", "fastapi", "sse_starlette", "pydantic_settings") if not find_spec(m)]
        if missing:
            raise ServeError(
                f"llama-cpp-python's server is not installed (no {', '.join(missing)}): "
                "pip install 'llama-cpp-python[server]'"
            )
        if self.running:
            raise ServeError("This server is already running")
        env = server_env()
        if self.options.api_key_env:
            key = os.environ.get(self.options.api_key_env, "").strip()
            if not key:
                raise ServeError(
                    f"${self.options.api_key_env} is not set: put the API key the server should require in it"
                )
            env["API_KEY"] = key
        if self.port == 0:
            self.port = free_port(self.options.host)
        else:
            _check_port(self.options.host, self.port)
        out = None
        if self.capture:
            fd, name = tempfile.mkstemp(prefix="edgetui-serve-", suffix=".log")
            self.log_path = Path(name)
            out = os.fdopen(fd, "wb")
        try:
            parent = os.getpid()
            self.process = subprocess.Popen(
                self.command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT if out else None,
                preexec_fn=lambda: _die_with_parent(parent),  # (its life tied to the thread that starts it)
            )  # fmt: skip
        except OSError as exc:
            raise ServeError(f"Cannot start the server: {exc.strerror or exc}") from None
        finally:
            if out is not None:
                out.close()  # the child has its own copy
        return self

    def listening(self) -> list[str]:
        """The addresses the server really listens on ('0.0.0.0:8080', '[::1]:8080'), as the system reports its
        sockets; empty when it is not running or the system does not say."""
        import psutil

        if self.process is None:
            return []
        try:
            conns = psutil.Process(self.process.pid).net_connections(kind="tcp")
        except (psutil.Error, OSError):
            return []
        found = {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN and c.laddr}
        return [f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip, port in sorted(found)]

    def log_tail(self, lines: int = 12) -> str:
        """The last lines the server wrote (captured mode), without uvicorn's request log."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_bytes()[-65536:].decode("utf-8", "replace")
        kept = [ln for ln in text.splitlines() if ln.strip() and '" 200' not in ln]
        return "\n".join(kept[-lines:])

    def _failure(self, what: str) -> ServeError:
        """`what`, the exception the server died of (if any) and the tail of its log."""
        tail = self.log_tail()
        errors = [ln for ln in tail.splitlines() if re.match(r"[\w.]*(Error|Exception): ", ln)]
        reason = f": {errors[-1].strip()}" if errors else ""
        return ServeError(f"{what}{reason}" + (f"\nLast lines of its log:\n{tail}" if tail else ""))

    def wait_ready(
        self,
        timeout_s: float = 120.0,
        cancel: threading.Event | None = None,
        progress: Callable[[float], None] | None = None,
    ) -> float:
        """Wait until GET /v1/models answers; return the seconds it took. `progress(elapsed_s)` is called
        while waiting. Raises ServeError (with the log tail) if the server exits or the time runs out."""
        import httpx

        if self.process is None:
            raise ServeError("The server was not started")
        t0 = time.perf_counter()
        headers = {}
        if self.options.api_key_env:
            headers["Authorization"] = f"Bearer {os.environ.get(self.options.api_key_env, '').strip()}"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise self._failure(f"The server exited (code {code}) before it was ready")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}/models", headers=headers).status_code == 200:
                        return time.perf_counter() - t0
                elapsed = time.perf_counter() - t0
                if cancel is not None and cancel.is_set():
                    self.stop()
                    raise ServeError("Cancelled while the server was starting")
                if elapsed > timeout_s:
                    error = self._failure(f"The server did not answer at {self.url} within {timeout_s:g} s")
                    self.stop()
                    raise error
                if progress is not None:
                    progress(elapsed)
                time.sleep(0.2)

    def wait(self) -> int:
        """Block until the server exits (foreground mode); its exit code."""
        if self.process is None:
            raise ServeError("The server was not started")
        return self.process.wait()

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout_s`); its exit code, None if never started."""
        proc, self.process = self.process, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None
        return code

    def __enter__(self) -> Serve:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def endpoint_toml(self, name: str = "", host: str = "") -> str:
        """An [[endpoints]] entry for config.toml that points edgetui at this server (`host`: as clients see it)."""
        base = f"http://{client_host(host)}:{self.port}/v1" if host else self.url
        q = json.dumps  # a JSON string is a TOML basic string
        lines = [
            "[[endpoints]]",
            f"name = {q(name or socket.gethostname() or 'serve')}",
            f"base_url = {q(base)}",
            f"model = {q(self.model_alias)}",
        ]
        if self.options.api_key_env:
            lines.append(f"api_key_env = {q(self.options.api_key_env)}")
        return "\n".join(lines)
