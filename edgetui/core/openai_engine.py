"""OpenAIEngine: the Engine protocol over a remote OpenAI-compatible chat API (llama-server, Ollama, vLLM)."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx  # imported lazily: httpx pulls in rich when it is installed
from urllib.parse import quote, unquote, urlsplit

from edgetui.config import Endpoint
from edgetui.core.engine import Generation
from edgetui.core.quantize import FTYPES
from edgetui.core.types import (
    ChatMessage,
    Chunk,
    EngineError,
    GenerationStats,
    LoadOptions,
    ModelInfo,
    SamplerSettings,
    StopReason,
)

# ModelInfo.path of a remote model is `openai:<endpoint name>/<model id, "/" percent-encoded>`: no file, but
# `model_from_path` turns it back into the model id, so it can be stored (sessions) and given to load() again.
REMOTE_PREFIX = "openai:"
# Request fields beyond the OpenAI API (llama-server and llama-cpp-python read them); a strict server that
# rejects one of them with HTTP 400/422 is asked again without them, and they stay off for that engine.
EXTRA_FIELDS = ("top_k", "min_p", "repeat_penalty", "stream_options")
# count_tokens with no tokenizer endpoint: ~4 characters a token, plus the chat template's tokens per message.
CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4
_OLLAMA_KEYS = ("prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration", "total_duration")
_DNS_HINTS = (
    "Name or service not known",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "No address associated",
    "getaddrinfo",
    "Errno -2]",
    "Errno -3]",
    "Errno -5]",
    "Errno 8]",
)
_KEPT = "the text so far is kept"
_CONNECT_S = 10.0  # a host that drops packets is reported after this, whatever timeout_s says
_POLL_S = 0.05  # how often an answer waiting for the server looks at its cancel event
_PROBE_TIMEOUT_S = 5.0  # /props and /tokenize are extras: never worth a long wait


def remote_path(endpoint_name: str, model: str) -> Path:
    """The pseudo path that stands for `model` on an endpoint in ModelInfo.path."""
    return Path(f"{REMOTE_PREFIX}{endpoint_name}/{quote(model, safe=':@-._~+')}")


def model_from_path(endpoint_name: str, path: str | Path) -> str:
    """The model id in a `remote_path`, or the text itself when it is a plain model id ('' stays '')."""
    text, prefix = str(path), f"{REMOTE_PREFIX}{endpoint_name}/"
    if text.startswith(prefix):
        return unquote(text[len(prefix) :])
    return "" if text in ("", ".") else text


def estimate_tokens(messages: Sequence[ChatMessage]) -> int:
    """About len(text)/4 tokens, plus MESSAGE_OVERHEAD_TOKENS a message for the chat template."""
    return sum(math.ceil(len(m.content) / CHARS_PER_TOKEN) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def guess_quant(model: str) -> str:
    """The quantization named in a model id (`...-Q4_K_M.gguf`, `llama3:8b-q4_0`), or ''."""
    for name in sorted(FTYPES, key=len, reverse=True):
        if re.search(rf"(?i)(?:^|[^a-z0-9]){re.escape(name)}(?:$|[^a-z0-9])", model):
            return name
    return ""


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _server_detail(response: httpx.Response) -> str:
    """The error message a server put in its body (OpenAI, FastAPI and plain-text styles)."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err
        return str(err) if err else ""
    return ""


@dataclass
class _Tally:
    """What one streamed answer has told so far: text chunks, finish reason, usage and server timings."""

    n_chunks: int = 0
    t_first: float = 0.0
    t_last: float = 0.0
    finish: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)  # llama-server's
    ollama: dict[str, Any] = field(default_factory=dict)

    def absorb(self, obj: Any) -> tuple[str, str]:
        """(text, error) carried by one SSE event, or by a whole non-streamed completion."""
        if not isinstance(obj, dict):
            return "", ""
        if obj.get("error"):
            err = obj["error"]
            return "", str(err.get("message") or err) if isinstance(err, dict) else str(err)
        if isinstance(obj.get("usage"), dict):
            self.usage = obj["usage"]
        if isinstance(obj.get("timings"), dict):
            self.timings = obj["timings"]
        self.ollama.update({k: obj[k] for k in _OLLAMA_KEYS if isinstance(obj.get(k), int | float)})
        text = ""
        for choice in obj.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            piece = choice.get("delta") or choice.get("message") or {}
            content = piece.get("content") if isinstance(piece, dict) else None
            text += content if isinstance(content, str) else ""
            self.finish = choice.get("finish_reason") or self.finish
        return text, ""

    def fill(self, stats: GenerationStats, t0: float, end: float) -> None:
        """Client-side measurements, completed with what the server reported (usage, timings)."""
        tm, ol, usage = self.timings, self.ollama, self.usage
        stats.total_s = end - t0
        stats.ttft_s = (self.t_first - t0) if self.t_first else stats.total_s
        gen = usage.get("completion_tokens") or tm.get("predicted_n") or ol.get("eval_count") or self.n_chunks
        stats.gen_tokens = int(gen)
        span = self.t_last - self.t_first
        if self.n_chunks > 1 and span > 0:  # the tokens after the first chunk, over the time they took
            stats.gen_tps = stats.gen_tokens * (self.n_chunks - 1) / self.n_chunks / span
        timings: dict[str, Any] = {}
        prompt_total = 0
        if tm:
            timings = {"server": "llama-server", **tm}
            stats.prompt_eval_tokens = int(tm.get("prompt_n") or 0)
            ms = float(tm.get("prompt_ms") or 0)
            stats.prompt_tps = float(tm.get("prompt_per_second") or 0) or (
                stats.prompt_eval_tokens / (ms / 1000) if ms else 0.0
            )
            if tm.get("predicted_per_second"):
                timings["eval_tps"] = float(tm["predicted_per_second"])
            prompt_total = stats.prompt_eval_tokens + int(tm.get("cache_n") or 0)
        elif ol:
            timings = {"server": "ollama", **ol}
            stats.prompt_eval_tokens = prompt_total = int(ol.get("prompt_eval_count") or 0)
            ns = ol.get("prompt_eval_duration") or 0
            stats.prompt_tps = stats.prompt_eval_tokens / (ns / 1e9) if ns else 0.0
            if ol.get("eval_duration"):
                timings["eval_tps"] = ol.get("eval_count", 0) / (ol["eval_duration"] / 1e9)
        if usage:
            timings["usage"] = usage
        stats.prompt_tokens = int(usage.get("prompt_tokens") or prompt_total)
        stats.engine_timings = timings
        if not self.n_chunks and stats.stop_reason is StopReason.EOS:
            stats.note = "The server ended its answer at once, without any text."


class OpenAIEngine:
    """A model on an OpenAI-compatible server; the API key is read from $api_key_env at each request only."""

    def __init__(self, endpoint: Endpoint) -> None:

        base = endpoint.base_url.strip().rstrip("/")
        if not base:
            raise EngineError(f"Endpoint {endpoint.name!r} has no base_url")
        base = base if "://" in base else f"http://{base}"
        self.endpoint = endpoint
        self.root = base.removesuffix("/v1")  # llama-server's /props and /tokenize live here
        self.api = f"{self.root}/v1"
        self._info: ModelInfo | None = None
        self._model = ""
        self._flavor = ""  # "llama-server" once /props has answered
        self._tokenize_route: str | None = None  # None: not probed yet; "": the server has none
        self._send_extras = True
        self._client: httpx.Client | None = None
        self.lock = threading.Lock()  # parity with LlamaEngine; the server queues requests itself

    def __repr__(self) -> str:
        return f"OpenAIEngine(name={self.endpoint.name!r}, api={self.api!r}, model={self._model!r})"

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def model(self) -> str:
        return self._model

    # -- HTTP plumbing -------------------------------------------------------------------------------
    def _http(self) -> httpx.Client:
        import httpx

        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.endpoint.timeout_s, connect=min(self.endpoint.timeout_s, _CONNECT_S)),
                trust_env=not _is_loopback(urlsplit(self.root).hostname or ""),  # no proxy for a local server
                follow_redirects=True,
            )
        return self._client

    def _key(self) -> str:
        var = self.endpoint.api_key_env
        return os.environ.get(var, "").strip() if var else ""

    def _headers(self) -> dict[str, str]:
        key = self._key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _line(self, text: str, limit: int = 300) -> str:
        """One line for the user, never carrying the API key (a server may echo it)."""
        key, text = self._key(), " ".join(str(text).split())
        text = text.replace(key, "***") if len(key) >= 4 else text
        return text if len(text) <= limit else text[: limit - 1] + "…"

    def _key_hint(self) -> str:
        var = self.endpoint.api_key_env
        if not var:
            return (
                f"the server wants an API key: set api_key_env of endpoint {self.endpoint.name!r} in "
                "config.toml and put the key in that environment variable"
            )
        return f"check the API key in ${var}" + ("" if self._key() else f" (${var} is not set)")

    def _status_error(self, response: httpx.Response, chat: bool) -> str:
        code, detail, name = response.status_code, _server_detail(response), self.endpoint.name
        tail = f": {detail}" if detail else ""
        if code in (401, 403):
            msg = f"{name} refused the request (HTTP {code}{tail}); {self._key_hint()}"
        elif code == 404 and chat:
            msg = f"{name} has no model {self._model!r} (HTTP 404{tail}); check the model name and base_url"
        elif code == 404:
            msg = f"{response.request.url} was not found (HTTP 404); is {self.api} an OpenAI-compatible API?"
        elif code >= 500:
            msg = f"{name} failed with a server error (HTTP {code}{tail})"
        else:
            msg = f"{name} rejected the request (HTTP {code}{tail})"
        return self._line(msg)

    def _network_error(self, exc: Exception, mid_answer: bool = False) -> str:
        import httpx

        name, timeout, text = self.endpoint.name, f"{self.endpoint.timeout_s:g} s", str(exc) or repr(exc)
        if isinstance(exc, httpx.ConnectTimeout):
            msg = f"Cannot connect to {self.root}: no answer to connect (host down or firewalled?)"
        elif isinstance(exc, httpx.TimeoutException) and mid_answer:
            msg = f"{name} sent nothing for {timeout} in the middle of the answer (timeout); {_KEPT}"
        elif isinstance(exc, httpx.TimeoutException):
            msg = f"{self.root} did not answer within {timeout} (timeout_s of endpoint {name!r})"
        elif mid_answer:
            msg = f"The connection to {name} broke in the middle of the answer ({text}); {_KEPT}"
        elif isinstance(exc, httpx.ConnectError) and any(h in text for h in _DNS_HINTS):
            host = urlsplit(self.root).hostname
            msg = f"Cannot find the host {host} (DNS lookup failed); check base_url of endpoint {name!r}"
        elif isinstance(exc, httpx.ConnectError) and ("refused" in text.lower() or "Errno 111" in text):
            msg = f"Cannot connect to {self.root}: connection refused; is the server running?"
        elif isinstance(exc, httpx.ConnectError):
            msg = f"Cannot connect to {self.root}: {text}"
        elif isinstance(exc, httpx.RemoteProtocolError):
            msg = f"{name} closed the connection without answering ({text})"
        else:
            msg = f"Request to {name} failed: {text}"
        return self._line(msg)

    def _get_json(self, url: str, timeout: float | None = None) -> Any:
        import httpx

        try:
            r = self._http().get(url, headers=self._headers(), timeout=timeout or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise EngineError(self._network_error(exc)) from None
        if r.status_code >= 400:
            raise EngineError(self._status_error(r, chat=False))
        try:
            return r.json()
        except ValueError:
            msg = f"{url} did not answer with JSON; is {self.api} an OpenAI-compatible API?"
            raise EngineError(self._line(msg)) from None

    # -- Engine protocol -----------------------------------------------------------------------------
    def load(self, path: str | Path = "", options: LoadOptions | None = None) -> ModelInfo:
        """Check the server (GET /v1/models) and pick the model: `path` is a model id or a `remote_path`
        ('' = endpoint.model, else the server's first model); `options` are the server's business."""
        name = self.endpoint.name
        wanted = model_from_path(name, path) or self.endpoint.model
        t0 = time.perf_counter()
        data = self._get_json(f"{self.api}/models")
        listed = data.get("data") if isinstance(data, dict) else None
        entries = [m for m in listed or [] if isinstance(m, dict) and m.get("id")]
        ids = [str(m["id"]) for m in entries]
        if wanted:  # Ollama answers to "llama3" for "llama3:latest"
            match = next((i for i in ids if i == wanted), None) or next(
                (i for i in ids if i == f"{wanted}:latest" or i.rsplit("/", 1)[-1] == wanted), None
            )
            if ids and match is None:
                more = ", ..." if len(ids) > 8 else ""
                msg = f"{name} has no model {wanted!r}; it serves {', '.join(ids[:8])}{more}"
                raise EngineError(self._line(msg))
            model = match or wanted
        elif ids:
            model = ids[0]
        else:
            raise EngineError(f'{name} lists no models: set model = "..." in its [[endpoints]] entry')
        meta = next((m["meta"] for m in entries if m["id"] == model and isinstance(m.get("meta"), dict)), {})
        self._model, self._tokenize_route = model, None
        n_ctx = self._probe_props()
        self._info = ModelInfo(
            path=remote_path(name, model),
            name=Path(model).stem if model.endswith(".gguf") else model,
            n_ctx=n_ctx,
            n_ctx_train=int(meta.get("n_ctx_train") or 0),  # llama-server lists these in /v1/models
            n_params=int(meta.get("n_params") or 0),
            size_bytes=int(meta.get("size") or 0),
            quant=guess_quant(model),
            chat_template="server",
            load_s=time.perf_counter() - t0,
            backend="remote",
            engine="openai",
        )
        return self._info

    def _probe_props(self) -> int:
        """llama-server's /props: its context size, `default_generation_settings.n_ctx` (0 if not told)."""
        try:
            props = self._get_json(f"{self.root}/props", min(self.endpoint.timeout_s, _PROBE_TIMEOUT_S))
        except EngineError:
            return 0
        settings = props.get("default_generation_settings") if isinstance(props, dict) else None
        if not isinstance(settings, dict):
            return 0
        self._flavor = "llama-server"
        try:
            return int(settings.get("n_ctx") or props.get("n_ctx") or 0)
        except (TypeError, ValueError):
            return 0

    def unload(self) -> None:
        self._info = None
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        import httpx

        """Through the server's tokenizer when it has one: llama-server /apply-template + /tokenize (exact),
        or /tokenize or llama-cpp-python's /extras/tokenize on the joined texts + MESSAGE_OVERHEAD_TOKENS a
        message; otherwise (or when that fails) `estimate_tokens`, about len(text)/4."""
        if self._info is None:
            raise EngineError("No model is loaded")
        try:
            n = self._count_remote(messages)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            n = None
        return estimate_tokens(messages) if n is None else n

    def _count_remote(self, messages: Sequence[ChatMessage]) -> int | None:
        if self._tokenize_route == "":
            return None
        client, headers = self._http(), self._headers()
        timeout = min(self.endpoint.timeout_s, _PROBE_TIMEOUT_S)
        text, overhead = "\n".join(m.content for m in messages), MESSAGE_OVERHEAD_TOKENS * len(messages)
        if self._flavor == "llama-server":
            r = client.post(
                f"{self.root}/apply-template",
                json={"messages": [m.as_dict() for m in messages]},
                headers=headers,
                timeout=timeout,
            )
            if r.status_code == 200 and isinstance(r.json().get("prompt"), str):
                text, overhead = r.json()["prompt"], 0
        for route in [self._tokenize_route] if self._tokenize_route else ["/tokenize", "/extras/tokenize"]:
            payload = {"content": text} if route == "/tokenize" else {"input": text, "model": self._model}
            r = client.post(f"{self.root}{route}", json=payload, headers=headers, timeout=timeout)
            if r.status_code in (404, 405):
                continue
            tokens = r.json().get("tokens") if r.status_code == 200 else None
            if not isinstance(tokens, list):
                return None  # failed this time; ask again next time
            self._tokenize_route = route
            return len(tokens) + overhead
        self._tokenize_route = ""
        return None

    def request_body(self, messages: Sequence[ChatMessage], sampler: SamplerSettings) -> dict[str, Any]:
        """The /v1/chat/completions request for these messages and sampler settings."""
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [m.as_dict() for m in messages],
            "stream": True,
            "temperature": sampler.temperature,
            "top_p": sampler.top_p,
        }
        if sampler.max_tokens > 0:
            body["max_tokens"] = sampler.max_tokens
        if sampler.seed >= 0:
            body["seed"] = sampler.seed
        if self._send_extras:
            body.update(
                stream_options={"include_usage": True},
                top_k=sampler.top_k,
                min_p=sampler.min_p,
                repeat_penalty=sampler.repeat_penalty,
            )
        return body

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event | None = None,
    ) -> Generation:
        if self._info is None:
            raise EngineError("No model is loaded")
        cancel = cancel or threading.Event()
        return Generation(lambda stats: self._stream(list(messages), sampler, cancel, stats))

    def _stream(
        self,
        messages: list[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event,
        stats: GenerationStats,
    ) -> Iterator[Chunk]:
        """Chunks from a reader thread: waiting for the server never holds up a cancel more than _POLL_S."""
        inbox: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        stop, tally, t0 = threading.Event(), _Tally(), time.perf_counter()
        threading.Thread(
            target=self._read, args=(messages, sampler, inbox, stop), daemon=True, name=f"openai-{self.endpoint.name}"
        ).start()
        try:
            while True:
                try:
                    kind, payload, t = inbox.get(timeout=_POLL_S)
                except queue.Empty:
                    if cancel.is_set():
                        stats.stop_reason = StopReason.CANCELLED
                        break
                    continue
                if kind == "data":
                    text, error = tally.absorb(payload)
                    if error:
                        stats.stop_reason = StopReason.ERROR
                        stats.error = self._line(f"{self.endpoint.name} reported an error: {error}")
                        break
                    if text:
                        tally.t_first, tally.t_last = tally.t_first or t, t
                        tally.n_chunks += 1
                        yield Chunk(text, t)
                    if cancel.is_set():
                        stats.stop_reason = StopReason.CANCELLED
                        break
                elif tally.finish or payload == "[DONE]":  # a break after finish_reason loses only usage
                    stats.stop_reason = StopReason.LENGTH if tally.finish == "length" else StopReason.EOS
                    break
                elif cancel.is_set():
                    stats.stop_reason = StopReason.CANCELLED
                    break
                else:  # an error, or a stream that ended before the server said it was done
                    stats.stop_reason = StopReason.ERROR
                    stats.error = (
                        payload
                        if kind == "error"
                        else self._line(
                            f"{self.endpoint.name} closed the connection before the answer was complete; {_KEPT}"
                        )
                    )
                    break
        except GeneratorExit:
            stats.stop_reason = StopReason.CANCELLED
            raise
        finally:
            stop.set()  # the reader closes the response at its next line
            tally.fill(stats, t0, time.perf_counter())

    def _read(
        self,
        messages: list[ChatMessage],
        sampler: SamplerSettings,
        inbox: queue.Queue[tuple[str, Any, float]],
        stop: threading.Event,
    ) -> None:
        import httpx

        """Reader thread: POST the chat request, put its events in `inbox` until done, failed or stopped."""
        got_data = False
        try:
            for _attempt in range(2):
                body = self.request_body(messages, sampler)
                with self._http().stream(
                    "POST", f"{self.api}/chat/completions", json=body, headers=self._headers()
                ) as r:
                    if r.status_code >= 400:
                        r.read()
                        strict = r.status_code in (400, 422) and self._send_extras
                        if strict and any(f in _server_detail(r) for f in EXTRA_FIELDS):
                            self._send_extras = False  # ask again with the OpenAI fields only
                            continue
                        inbox.put(("error", self._status_error(r, chat=True), time.perf_counter()))
                        return
                    if "text/event-stream" not in r.headers.get("content-type", "text/event-stream"):
                        inbox.put(("data", json.loads(r.read()), time.perf_counter()))  # not streamed
                        inbox.put(("end", "[DONE]", time.perf_counter()))
                        return
                    for line in r.iter_lines():
                        if stop.is_set():
                            return
                        if not line.startswith("data:"):
                            continue  # blank separators, ": ping" comments, "event:" lines
                        data = line[5:].strip()
                        if data == "[DONE]":
                            inbox.put(("end", "[DONE]", time.perf_counter()))
                            return
                        inbox.put(("data", json.loads(data), time.perf_counter()))
                        got_data = True
                    inbox.put(("end", "eof", time.perf_counter()))
                    return
        except (httpx.HTTPError, OSError) as exc:
            if not stop.is_set():
                inbox.put(("error", self._network_error(exc, mid_answer=got_data), time.perf_counter()))
        except ValueError as exc:  # JSON that does not parse
            msg = self._line(f"{self.endpoint.name} sent a malformed answer ({exc})")
            inbox.put(("error", msg, time.perf_counter()))
        except Exception as exc:  # the consumer must always hear how the reader ended
            msg = self._line(f"Request to {self.endpoint.name} failed: {exc!r}")
            inbox.put(("error", msg, time.perf_counter()))
