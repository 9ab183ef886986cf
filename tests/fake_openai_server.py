"""A tiny scripted OpenAI-compatible HTTP server on 127.0.0.1 (stdlib only) for the remote-engine tests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODES = (
    "ok",  # an OpenAI-style stream; a usage chunk when stream_options.include_usage is asked for
    "llama",  # llama-server: /props, /tokenize, /apply-template, `timings` in the last chunk, meta in /v1/models
    "ollama",  # eval_count / eval_duration / prompt_eval_count / prompt_eval_duration in the last chunk
    "401",
    "403",
    "500",  # that status (with an OpenAI-style error body) on every route
    "404model",  # /v1/models answers, the chat answers 404 "model not found"
    "slow",  # sleeps `slow_s` before answering anything
    "slow_mid",  # sends `cut_after` chunks, then sleeps `slow_s`
    "disconnect",  # sends `cut_after` chunks, then drops the connection in the middle of the chunked body
    "eof",  # sends `cut_after` chunks, then ends the body cleanly without finish_reason or [DONE]
    "sse_error",  # one chunk, then `data: {"error": ...}`
    "strict",  # 400 "Unrecognized request argument" when the request has top_k/min_p/repeat_penalty
    "json",  # answers the chat with a whole (non-streamed) completion
    "hang",  # waits for `release` (at most 10 s) before answering the chat
    "trickle",  # `trickle_n` chunks, `trickle_s` apart
    "drop_after_finish",  # drops the connection after the finish_reason chunk, before usage and [DONE]
)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away (cancel, timeout) is part of the script


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeOpenAIServer:
    mode: str = "ok"
    chunks: list[str] = field(default_factory=lambda: ["Hello", ",", " world", "!"])
    models: list[str] = field(default_factory=lambda: ["fake-model", "other-model-Q4_K_M"])
    cut_after: int = 2
    finish: str = "stop"  # the finish_reason of the last chunk
    slow_s: float = 3.0
    trickle_n: int = 200
    trickle_s: float = 0.01
    error_message: str = "the fake server crashed"  # what mode "500" says
    raw_events: list[str] = field(default_factory=list)  # mode "raw": these `data:` payloads, sent as they are
    requests: list[Recorded] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self, mode: str = "ok") -> None:
        assert mode in MODES, mode
        self.mode = mode
        self.finish = "stop"
        self.requests.clear()
        self.release.clear()

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _chunk(text: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    delta = {"content": text} if text is not None else {}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def _handler_for(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep the test output clean
            pass

        # -- plumbing ------------------------------------------------------------------------------
        def _record(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            server.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))
            return body

        def _json(self, status: int, data: Any) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": {"message": message, "type": "fake_error", "code": status}})

        def _start_stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _send(self, data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            raw = f"data: {text}\n\n".encode()
            self.wfile.write(f"{len(raw):X}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def _end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _drop(self) -> None:
            self.wfile.flush()
            self.close_connection = True  # the socket closes with the chunked body unfinished

        # -- routes --------------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802
            self._record()
            if self._common_failure():
                return
            if self.path == "/v1/models":
                data = [{"id": m, "object": "model", "owned_by": "fake"} for m in server.models]
                if server.mode == "llama":
                    data[0]["meta"] = {"n_ctx_train": 8192, "n_params": 134515008, "size": 98000000}
                self._json(200, {"object": "list", "data": data})
            elif self.path == "/props" and server.mode == "llama":
                self._json(200, {"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1})
            else:
                self._error(404, "File Not Found")

        def do_POST(self) -> None:  # noqa: N802
            body = self._record()
            if self._common_failure():
                return
            if self.path == "/v1/chat/completions":
                self._chat(body or {})
            elif self.path == "/tokenize" and server.mode == "llama":
                self._json(200, {"tokens": list(range(len(body["content"].split())))})
            elif self.path == "/apply-template" and server.mode == "llama":
                prompt = "".join(f"<|{m['role']}|>{m['content']} " for m in body["messages"])
                self._json(200, {"prompt": prompt})
            else:
                self._error(404, "File Not Found")

        def _common_failure(self) -> bool:
            mode = server.mode
            if mode in ("401", "403"):
                self._error(int(mode), "Invalid API key")
            elif mode == "500":
                self._error(500, server.error_message)
            elif mode == "slow":
                time.sleep(server.slow_s)
                self._error(503, "too late")
            else:
                return False
            return True

        def _chat(self, body: dict[str, Any]) -> None:
            mode, chunks = server.mode, server.chunks
            if mode == "404model":
                return self._error(404, f"model '{body.get('model')}' not found")
            if mode == "strict" and any(k in body for k in ("top_k", "min_p", "repeat_penalty")):
                return self._error(400, "Unrecognized request argument supplied: top_k")
            if mode == "hang":
                server.release.wait(10)
            if mode == "json":
                return self._json(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "".join(chunks)},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
                    },
                )
            self._start_stream()
            if mode == "raw":  # whatever a broken or hostile server streams
                for payload in server.raw_events:
                    self._send(payload)
                return self._end_stream()
            self._send(_chunk(None) | {"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
            if mode == "trickle":
                chunks = [f" {i}" for i in range(server.trickle_n)]
            for i, text in enumerate(chunks):
                if i == server.cut_after and mode in ("slow_mid", "disconnect", "eof"):
                    if mode == "slow_mid":
                        time.sleep(server.slow_s)
                    return self._drop() if mode != "eof" else self._end_stream()
                if i == 1 and mode == "sse_error":
                    self._send({"error": {"message": "the fake GPU ran out of memory", "code": 500}})
                    return self._end_stream()
                try:
                    self._send(_chunk(text))
                except OSError:
                    return None  # the client went away (cancel)
                if mode == "trickle":
                    time.sleep(server.trickle_s)
            extra: dict[str, Any] = {}
            if mode == "llama":
                extra["timings"] = {
                    "cache_n": 2,
                    "prompt_n": 10,
                    "prompt_ms": 20.0,
                    "prompt_per_second": 500.0,
                    "predicted_n": len(chunks),
                    "predicted_ms": 40.0,
                    "predicted_per_second": 100.0,
                }
            if mode == "ollama":
                extra.update(
                    prompt_eval_count=12,
                    prompt_eval_duration=24_000_000,
                    eval_count=len(chunks),
                    eval_duration=80_000_000,
                    total_duration=120_000_000,
                )
            self._send(_chunk(None, server.finish, **extra))
            if mode == "drop_after_finish":
                return self._drop()
            if (body.get("stream_options") or {}).get("include_usage"):
                self._send(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "choices": [],
                        "usage": {"prompt_tokens": 9, "completion_tokens": len(chunks), "total_tokens": 9},
                    }
                )
            self._send("[DONE]")
            self._end_stream()
            return None

    return Handler
