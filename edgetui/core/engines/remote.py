"""OpenAIEngine: the Engine protocol over a remote OpenAI-compatible chat API (llama-server, Ollama, vLLM)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from edgetui.config import Endpoint
from edgetui.core.engines.llama import Generation
from edgetui.core.engines.remote_http import TEXT_KEPT, OpenAIHttp, server_detail
from edgetui.core.engines.remote_stream import (
    EXTRA_FIELDS,
    MESSAGE_OVERHEAD_TOKENS,
    StreamTally,
    estimate_tokens,
    guess_quant,
)
from edgetui.core.models.ref import REMOTE_PREFIX, ModelRef
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

__all__ = ["OpenAIEngine", "estimate_tokens", "guess_quant"]

_POLL_S = 0.05  # how often an answer waiting for the server looks at its cancel event
_PROBE_TIMEOUT_S = 5.0  # /props and /tokenize are extras: never worth a long wait


class OpenAIEngine(OpenAIHttp):
    """A model on an OpenAI-compatible server; the API key is read from $api_key_env at each request only."""

    def __init__(self, endpoint: Endpoint) -> None:
        super().__init__(endpoint)
        self._info: ModelInfo | None = None
        self._flavor = ""  # "llama-server" once /props has answered
        self._tokenize_route: str | None = None  # None: not probed yet; "": the server has none
        self._send_extras = True
        self.lock = threading.Lock()  # parity with LlamaEngine; the server queues requests itself

    def __repr__(self) -> str:
        return f"OpenAIEngine(name={self.endpoint.name!r}, api={self.api!r}, model={self._model!r})"

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def model(self) -> str:
        return self._model

    # -- Engine protocol -----------------------------------------------------------------------------
    def load(self, path: ModelRef | str | Path = "", options: LoadOptions | None = None) -> ModelInfo:
        """Check the server (GET /v1/models) and pick the model: `path` is a ModelRef of this endpoint, its text
        (`openai:<name>/<model>`) or a plain model id ('' = endpoint.model, else the server's first model);
        `options` are the server's business. ModelInfo.path is the loaded model's ModelRef text."""
        name = self.endpoint.name
        wanted = self._wanted(path) or self.endpoint.model
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
            path=str(ModelRef.remote(name, model)),
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

    def _wanted(self, path: ModelRef | str | Path) -> str:
        """The model id `path` asks for ('' for the endpoint's own); EngineError for another endpoint's or a file."""
        if not isinstance(path, ModelRef):
            text = str(path)
            if not text.startswith(REMOTE_PREFIX):
                return "" if text in ("", ".") else text  # a plain model id
            path = ModelRef.parse(text)
        if not path.is_remote or path.endpoint != self.endpoint.name:
            raise EngineError(f"{path} is not a model of the endpoint {self.endpoint.name!r}")
        return path.model

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
        stop, tally, t0 = threading.Event(), StreamTally(), time.perf_counter()
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
                            f"{self.endpoint.name} closed the connection before the answer was complete; {TEXT_KEPT}"
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
                        if strict and any(f in server_detail(r) for f in EXTRA_FIELDS):
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
