"""OpenAIHttp: the HTTP side of an OpenAI-compatible endpoint: client, API key, user-facing error messages."""

from __future__ import annotations

import ipaddress
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from edgetui.config import Endpoint
from edgetui.core.types import EngineError

if TYPE_CHECKING:
    import httpx  # imported lazily: httpx pulls in rich when it is installed

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
TEXT_KEPT = "the text so far is kept"
_CONNECT_S = 10.0  # a host that drops packets is reported after this, whatever timeout_s says


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def server_detail(response: httpx.Response) -> str:
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


class OpenAIHttp:
    """The HTTP plumbing OpenAIEngine builds on; the API key is read from $api_key_env at each request only."""

    def __init__(self, endpoint: Endpoint) -> None:
        base = endpoint.base_url.strip().rstrip("/")
        if not base:
            raise EngineError(f"Endpoint {endpoint.name!r} has no base_url")
        base = base if "://" in base else f"http://{base}"
        self.endpoint = endpoint
        self.root = base.removesuffix("/v1")  # llama-server's /props and /tokenize live here
        self.api = f"{self.root}/v1"
        self._model = ""
        self._client: httpx.Client | None = None

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
        code, detail, name = response.status_code, server_detail(response), self.endpoint.name
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
            msg = f"{name} sent nothing for {timeout} in the middle of the answer (timeout); {TEXT_KEPT}"
        elif isinstance(exc, httpx.TimeoutException):
            msg = f"{self.root} did not answer within {timeout} (timeout_s of endpoint {name!r})"
        elif mid_answer:
            msg = f"The connection to {name} broke in the middle of the answer ({text}); {TEXT_KEPT}"
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

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
