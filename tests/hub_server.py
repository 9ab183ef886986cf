"""A fake Hugging Face Hub on 127.0.0.1 for tests: search, file trees, resolve (with CDN redirects) and ranges.

It answers what huggingface_hub 1.x/2.x calls for `HfApi.list_models`, `HfApi.list_repo_tree`,
`HfApi.model_info`, `get_hf_file_metadata` (HEAD /resolve) and `hf_hub_download`:

- GET  /api/models?search=&filter=&sort=&limit=         -> list of model dicts
- GET  /api/models/{org}/{name}[/revision/{rev}]        -> model info with siblings
- GET  /api/models/{org}/{name}/tree/{rev}[/{path}]     -> file entries (with lfs info for large files)
- HEAD|GET /{org}/{name}/resolve/{rev}/{path}           -> LFS files: 302 to the "CDN" (a second server on
  another port, so another origin, as cdn-lfs.hf.co is) with X-Repo-Commit, X-Linked-Etag, X-Linked-Size;
  small files: 200 with ETag (git blob id), Content-Length, X-Repo-Commit.
- HEAD|GET cdn /blobs/{sha256}                          -> the bytes, with Range support (206, Content-Range)

Errors carry the X-Error-Code header huggingface_hub maps to its exceptions (RepoNotFound, GatedRepo,
RevisionNotFound, EntryNotFound). `throttle_bps` slows the CDN down (to test cancel and resume);
`drop_once_after` makes the CDN cut its next response after that many bytes (a network drop);
`requests` records (server, method, path, Range header) of every request.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_THRESHOLD = 10 * 1024  # files larger than this are "LFS" files, served through the CDN


@dataclass
class FakeFile:
    """A file in a fake repo: bytes in memory, or a real file on disk (served by ranges, never loaded)."""

    path: str
    data: bytes | None = None
    source: Path | None = None
    size: int = 0
    sha256: str = ""
    git_oid: str = ""

    def __post_init__(self) -> None:
        if self.source is not None:
            self.size = self.source.stat().st_size
            h = hashlib.sha256()
            with self.source.open("rb") as f:
                while block := f.read(8 << 20):
                    h.update(block)
            self.sha256 = h.hexdigest()
        else:
            assert self.data is not None
            self.size = len(self.data)
            self.sha256 = hashlib.sha256(self.data).hexdigest()
        self.git_oid = hashlib.sha1(f"blob {self.size}\0".encode() + self.sha256.encode()).hexdigest()

    @property
    def lfs(self) -> bool:
        return self.size > LFS_THRESHOLD

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end)."""
        if self.data is not None:
            return self.data[start:end]
        assert self.source is not None
        with self.source.open("rb") as f:
            f.seek(start)
            return f.read(end - start)


@dataclass
class FakeRepo:
    repo_id: str
    files: list[FakeFile]
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=lambda: ["gguf"])
    gated: bool = False
    private: bool = False
    last_modified: str = "2025-01-15T10:00:00.000Z"

    @property
    def sha(self) -> str:
        return hashlib.sha1(self.repo_id.encode()).hexdigest()

    def file(self, path: str) -> FakeFile | None:
        return next((f for f in self.files if f.path == path), None)

    def card(self) -> dict[str, Any]:
        return {
            "_id": self.sha[:24], "id": self.repo_id, "modelId": self.repo_id, "author": self.repo_id.split("/")[0],
            "sha": self.sha, "downloads": self.downloads, "likes": self.likes, "tags": self.tags,
            "lastModified": self.last_modified, "createdAt": "2024-11-01T08:00:00.000Z",
            "gated": "auto" if self.gated else False, "private": self.private, "disabled": False,
            "library_name": "gguf" if "gguf" in self.tags else None, "pipeline_tag": "text-generation",
        }  # fmt: skip


def fake_gguf(size: int, seed: str) -> bytes:
    """Bytes that start like a GGUF file (not loadable): for listing and transfer tests."""
    body = hashlib.sha256(seed.encode()).digest() * (size // 32 + 1)
    return (b"GGUF\x03\x00\x00\x00" + body)[:size]


class FakeHub:
    """Two ThreadingHTTPServers on free 127.0.0.1 ports: the Hub API and its CDN. Use as a context manager."""

    def __init__(self, repos: list[FakeRepo], throttle_bps: int = 0) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.throttle_bps = throttle_bps
        self.drop_once_after = 0
        self.requests: list[tuple[str, str, str, str]] = []
        self._servers: list[ThreadingHTTPServer] = []

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> FakeHub:
        for role in ("hub", "cdn"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, role))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"fake-{role}", daemon=True).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._servers[0].server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._servers[1].server_address[1]}"

    def ranges(self) -> list[str]:
        """The Range headers the CDN received ('' for a request without one)."""
        return [r[3] for r in self.requests if r[0] == "cdn" and r[1] == "GET"]


def _handler(hub: FakeHub, role: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self._dispatch(head=True)

        def do_GET(self) -> None:
            self._dispatch(head=False)

        # -- plumbing ----------------------------------------------------------------------------
        def _dispatch(self, head: bool) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            hub.requests.append((role, self.command, path, self.headers.get("Range", "")))
            query = parse_qs(url.query)
            try:
                if role == "cdn":
                    self._cdn(path, head)
                else:
                    self._hub(path, query, head)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _send(
            self,
            status: int,
            body: bytes = b"",
            headers: dict[str, str] | None = None,
            head: bool = False,
            length: int | None = None,
        ) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def _json(self, data: Any, head: bool = False) -> None:
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"}, head)

        def _error(self, status: int, code: str, message: str, head: bool, extra: dict[str, str] | None = None):
            body = json.dumps({"error": message}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Code": code, "X-Error-Message": message}
            self._send(status, body, {**headers, **(extra or {})}, head)

        def _repo(self, repo_id: str, head: bool, downloading: bool = False) -> FakeRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None or repo.private:
                self._error(401 if repo else 404, "RepoNotFound", "Repository not found", head)
                return None
            if downloading and repo.gated:
                self._error(
                    401,
                    "GatedRepo",
                    f"Access to model {repo_id} is restricted. You must have access "
                    "to it and be authenticated to access it. Please log in.",
                    head,
                )
                return None
            return repo

        def _revision_ok(self, repo: FakeRepo, rev: str, head: bool) -> bool:
            if rev in ("main", repo.sha):
                return True
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head)
            return False

        # -- the Hub -----------------------------------------------------------------------------
        def _hub(self, path: str, query: dict[str, list[str]], head: bool) -> None:
            if path in ("", "/"):
                return self._send(200, b"fake hub", {"Content-Type": "text/plain"}, head)
            if path == "/api/models":
                return self._search(query, head)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path)
            if m:
                return self._tree(m[1], m[2], m[3] or "", query, head)
            m = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
            if m:
                return self._info(m[1], m[2] or "main", head)
            m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if m:
                return self._resolve(m[1], m[2], m[3], head)
            self._error(404, "NotFound", f"no route for {path}", head)

        def _search(self, query: dict[str, list[str]], head: bool) -> None:
            search = (query.get("search") or [""])[0].lower()
            filters = query.get("filter") or []
            author = (query.get("author") or [""])[0]
            found = [
                r
                for r in hub.repos.values()
                if not r.private
                and search in r.repo_id.lower()
                and all(f in r.tags for f in filters)
                and (not author or r.repo_id.split("/")[0] == author)
            ]
            sort = (query.get("sort") or ["downloads"])[0]
            key = {"likes": lambda r: r.likes, "lastModified": lambda r: r.last_modified}.get(
                sort, lambda r: r.downloads
            )
            found.sort(key=key, reverse=True)
            limit = int((query.get("limit") or ["1000"])[0])
            self._json([r.card() for r in found[:limit]], head)

        def _info(self, repo_id: str, rev: str, head: bool) -> None:
            repo = self._repo(repo_id, head)
            if repo is None or not self._revision_ok(repo, rev, head):
                return
            card = repo.card()
            card["siblings"] = [{"rfilename": f.path, "size": f.size, "blobId": f.git_oid} for f in repo.files]
            card["usedStorage"] = sum(f.size for f in repo.files)
            self._json(card, head)

        def _tree(self, repo_id: str, rev: str, prefix: str, query: dict[str, list[str]], head: bool) -> None:
            repo = self._repo(repo_id, head)
            if repo is None or not self._revision_ok(repo, rev, head):
                return
            recursive = (query.get("recursive") or ["false"])[0].lower() in ("1", "true")
            base = prefix.strip("/") + "/" if prefix.strip("/") else ""
            entries: list[dict[str, Any]] = []
            dirs: set[str] = set()
            for f in repo.files:
                if not f.path.startswith(base):
                    continue
                parents = f.path[len(base) :].split("/")[:-1]
                if parents and not recursive:
                    dirs.add(base + parents[0])
                    continue
                dirs.update(base + "/".join(parents[: i + 1]) for i in range(len(parents)))
                entry: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": f.path}
                if f.lfs:
                    entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
                entries.append(entry)
            folders = [
                {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                for d in sorted(dirs)
            ]
            self._json(folders + entries, head)

        def _resolve(self, repo_id: str, rev: str, filename: str, head: bool) -> None:
            repo = self._repo(repo_id, head, downloading=True)
            if repo is None or not self._revision_ok(repo, rev, head):
                return
            f = repo.file(filename)
            commit = {"X-Repo-Commit": repo.sha}
            if f is None:
                return self._error(404, "EntryNotFound", f"{filename} does not exist on main", head, commit)
            if f.lfs:
                headers = {
                    **commit,
                    "X-Linked-Etag": f'"{f.sha256}"',
                    "X-Linked-Size": str(f.size),
                    "ETag": f'"{f.git_oid}"',
                    "Location": f"{hub.cdn_url}/blobs/{f.sha256}",
                    "Accept-Ranges": "bytes",
                }
                return self._send(302, b"", headers, head)
            headers = {**commit, "ETag": f'"{f.git_oid}"', "Content-Type": "application/octet-stream"}
            self._send(200, f.read(0, f.size), headers, head)

        # -- the CDN -----------------------------------------------------------------------------
        def _cdn(self, path: str, head: bool) -> None:
            m = re.fullmatch(r"/blobs/([0-9a-f]{64})", path)
            f = next((f for r in hub.repos.values() for f in r.files if m and f.sha256 == m[1]), None)
            if f is None:
                return self._send(404, b"NoSuchKey", {"Content-Type": "text/plain"}, head)
            start, end, status = 0, f.size, 200
            headers = {"Accept-Ranges": "bytes", "ETag": f'"{f.sha256}"', "Content-Type": "application/octet-stream"}
            rng = self.headers.get("Range")
            if rng:
                rm = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                if not rm or int(rm[1]) >= f.size:
                    return self._send(416, b"", {"Content-Range": f"bytes */{f.size}"}, head)
                start = int(rm[1])
                end = min(f.size, int(rm[2]) + 1) if rm[2] else f.size
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{f.size}"
            self._send(status, b"", headers, head=True, length=end - start)
            if not head:
                self._stream(f, start, end)

        def _stream(self, f: FakeFile, start: int, end: int) -> None:
            piece = 64 * 1024
            t0, sent = time.monotonic(), 0
            pos = start
            drop_at = start + hub.drop_once_after if hub.drop_once_after else end
            hub.drop_once_after = 0
            while pos < end:
                if pos >= drop_at:  # cut the connection mid-body, as a flaky network does
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                n = min(piece if hub.throttle_bps else 4 << 20, end - pos, max(drop_at - pos, 1))
                self.wfile.write(f.read(pos, pos + n))
                pos += n
                sent += n
                if hub.throttle_bps:
                    ahead = sent / hub.throttle_bps - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)

    return Handler


def use_fake_hub(hub: FakeHub, monkeypatch) -> FakeHub:
    """Point huggingface_hub (through Hub, which reads HF_ENDPOINT at each call) at the fake Hub."""
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    hub.throttle_bps = 0
    hub.requests.clear()
    return hub
