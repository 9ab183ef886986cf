"""Search the Hugging Face Hub for GGUF models and download them, resumably, into the shared HF cache."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from edgetui.core.types import EngineError

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)

_TRUE = {"1", "ON", "YES", "TRUE"}
_LOGIN = "`hf auth login` or HF_TOKEN"
_QUANT_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:UD-)?(?:I?Q[1-8](?:_(?:XXS|XS|XL|NL|K|S|M|L|[0-9]))*|TQ[12]_0|MXFP4(?:_MOE)?)"
    r"|BF16|FP16|F16|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_SPLIT_RE = re.compile(r"^(?P<base>.+)-(?P<i>\d{5})-of-(?P<n>\d{5})\.gguf$", re.IGNORECASE)
_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# The quantization picked when `pull` names none: good quality for its size, runs everywhere.
DEFAULT_QUANTS = ("Q4_K_M", "Q4_K_S", "IQ4_XS", "Q4_0", "Q4_1", "Q5_K_M", "Q5_K_S", "Q5_0", "Q6_K", "Q8_0",
                  "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K", "F16", "BF16", "F32")  # fmt: skip
# A read that stalls this long is retried from where it stopped (with a longer wait after each stall in a row),
# so that a cancel is never blocked for long on a silent connection.
READ_TIMEOUT_S = 1.0
MAX_STALLS = 15
PROBE_TIMEOUT_S = 5.0
_PROBE_TTL_S = 60.0


class HubError(EngineError):
    """A Hub action failed; the message is written for the user."""


class HubOffline(HubError):
    """The Hub cannot be reached (offline mode, no network, endpoint down); messages start with 'offline:'."""


class DownloadCancelled(HubError):
    """The download was cancelled; its partial file is kept so that the next download resumes it."""


@dataclass(frozen=True)
class HubRepo:
    """A model repository found by a search."""

    repo_id: str
    downloads: int = 0
    likes: int = 0
    updated: datetime | None = None
    gated: bool = False
    tags: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["updated"] = self.updated.isoformat() if self.updated else None
        d["tags"] = list(self.tags)
        return d


@dataclass(frozen=True)
class HubFile:
    """One GGUF model in a repository: a single file, or the parts of a split model as one entry."""

    name: str  # path in the repo of the file (the first part for a split model)
    size: int  # bytes, all parts together
    quant: str = ""  # "Q4_K_M", "IQ4_XS", "F16"... as the file name says; "" when it does not
    parts: tuple[str, ...] = field(default=())  # every file to download, in order
    kind: str = "model"  # "model", or "mmproj" for a vision projector

    @property
    def split(self) -> bool:
        return len(self.parts) > 1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parts"] = list(self.parts)
        return d


def quant_from_name(name: str) -> str:
    """The quantization a GGUF file name announces ('Q4_K_M', 'UD-Q4_K_XL', 'F16'), '' when none."""
    stem = Path(name).name
    m = _SPLIT_RE.match(stem)
    stem = m["base"] if m else re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    found = _QUANT_RE.findall(stem)
    if not found:
        return ""
    q = found[-1].upper()
    return "F16" if q == "FP16" else q


def group_gguf_files(entries: Sequence[tuple[str, int]]) -> list[HubFile]:
    """(path, size) pairs of a repo -> its GGUF models, split parts grouped, sorted by size."""
    singles: list[HubFile] = []
    splits: dict[str, list[tuple[int, int, str, int]]] = {}
    for path, size in entries:
        if not path.lower().endswith(".gguf"):
            continue
        m = _SPLIT_RE.match(path)
        if m:
            splits.setdefault(m["base"], []).append((int(m["i"]), int(m["n"]), path, int(size or 0)))
        else:
            singles.append(_hub_file(path, (path,), int(size or 0)))
    for parts in splits.values():
        parts.sort()
        paths = tuple(p[2] for p in parts)
        singles.append(_hub_file(paths[0], paths, sum(p[3] for p in parts)))
    return sorted(singles, key=lambda f: (f.kind != "model", f.size, f.name))


def _hub_file(name: str, parts: tuple[str, ...], size: int) -> HubFile:
    kind = "mmproj" if "mmproj" in Path(name).name.lower() else "model"
    return HubFile(name=name, size=size, quant=quant_from_name(name), parts=parts, kind=kind)


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`org/repo:Q4_K_M` -> ('org/repo', 'Q4_K_M'); also accepts hf.co/ and https://huggingface.co/ prefixes
    and a file name after the colon (`org/repo:model-Q8_0.gguf`)."""
    s = spec.strip()
    s = re.sub(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/", "", s)
    s = re.sub(r"^(?:models/)", "", s)
    quant: str | None = None
    if ":" in s:
        s, quant = s.split(":", 1)
        quant = quant.strip() or None
    s = s.strip().strip("/")
    if not _REPO_RE.match(s):
        raise HubError(f"{spec!r} is not a Hugging Face model: write it as org/repo or org/repo:QUANT")
    if quant and not quant.lower().endswith(".gguf"):
        quant = quant.upper()
    return s, quant


def pick_file(files: Sequence[HubFile], quant: str | None, repo_id: str = "the repository") -> HubFile:
    """The file matching `quant` (a quantization or a file name); without one, the best default."""
    models = [f for f in files if f.kind == "model"]
    if not models:
        raise HubError(f"{repo_id} has no GGUF model file")
    if quant:
        if quant.lower().endswith(".gguf"):
            for f in files:
                if quant in f.parts or Path(f.name).name == quant:
                    return f
            raise HubError(f"{repo_id} has no file {quant}")
        q = quant.upper()
        bare = q.removeprefix("UD-")
        hits = [f for f in models if f.quant == q] or [f for f in models if f.quant.removeprefix("UD-") == bare]
        if hits:
            return hits[0]
        have = ", ".join(sorted({f.quant for f in models if f.quant})) or "none named by quantization"
        raise HubError(f"{repo_id} has no {q} file; it has: {have}")
    for wanted in DEFAULT_QUANTS:
        for f in models:
            if f.quant.removeprefix("UD-") == wanted:
                return f
    return models[0]


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def hub_cache_dir() -> Path:
    """The HF hub cache as the environment says *now* (huggingface_hub reads it only once, at import)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(os.path.expandvars(home)).expanduser() / "hub"


class Hub:
    """Hugging Face Hub access: search, list GGUF files, download into the HF cache (cancellable, resumable).

    The endpoint, offline mode and cache directory are read from the environment (HF_ENDPOINT,
    HF_HUB_OFFLINE, HF_HUB_CACHE/HF_HOME) at each call and passed explicitly to huggingface_hub, whose own
    constants are frozen at its import.
    """

    _reachable: dict[str, float] = {}  # endpoint -> time.monotonic() of its last successful probe

    def __init__(
        self, endpoint: str | None = None, token: str | bool | None = None, cache_dir: str | Path | None = None
    ) -> None:
        self._endpoint = endpoint
        self.token = token
        self._cache_dir = Path(cache_dir) if cache_dir else None

    # -- settings read at call time --------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._endpoint:
            return self._endpoint.rstrip("/")
        env = os.environ.get("HF_ENDPOINT")
        if env:
            return env.rstrip("/")
        from huggingface_hub import constants

        return constants.ENDPOINT.rstrip("/")

    @property
    def cache_dir(self) -> Path:
        return self._cache_dir or hub_cache_dir()

    @staticmethod
    def offline_mode() -> bool:
        """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, now or when huggingface_hub was imported."""
        if _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE"):
            return True
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)

    def _api(self) -> Any:
        from huggingface_hub import HfApi

        return HfApi(endpoint=self.endpoint, token=self.token)

    def ensure_online(self) -> None:
        """Raise HubOffline unless the endpoint answers (probed quickly, then trusted for a minute)."""
        if self.offline_mode():
            raise HubOffline(
                "offline: HF_HUB_OFFLINE is set, so the Hugging Face Hub is not contacted "
                "(unset it to search and download; local models still work)"
            )
        endpoint = self.endpoint
        last = self._reachable.get(endpoint)
        if last is not None and time.monotonic() - last < _PROBE_TTL_S:
            return
        import httpx2
        from huggingface_hub.utils import get_session

        try:
            get_session().head(endpoint + "/", timeout=PROBE_TIMEOUT_S, follow_redirects=False)
        except (httpx2.HTTPError, OSError) as exc:
            raise self._error(exc) from None
        self._reachable[endpoint] = time.monotonic()

    # -- errors ----------------------------------------------------------------------------------
    def _error(self, exc: BaseException, repo_id: str = "", filename: str = "") -> HubError:
        """A user-facing HubError for anything huggingface_hub or the network raised."""
        import httpx2
        from huggingface_hub import errors

        what = f"{repo_id}/{filename}" if filename else repo_id or "the Hub"
        if isinstance(exc, HubError):
            return exc
        if isinstance(exc, errors.OfflineModeIsEnabled):
            return HubOffline("offline: HF_HUB_OFFLINE is set, so the Hugging Face Hub is not contacted")
        if isinstance(exc, errors.GatedRepoError):
            return HubError(
                f"{repo_id or what} is gated: accept its terms at {self.endpoint}/{repo_id} "
                f"and log in with an access token ({_LOGIN})"
            )
        if isinstance(exc, errors.RepositoryNotFoundError):
            return HubError(
                f"{repo_id or what} was not found on the Hub (if it is private, log in with an access token: {_LOGIN})"
            )
        if isinstance(exc, errors.RevisionNotFoundError):
            return HubError(f"{repo_id}: that revision does not exist")
        if isinstance(exc, errors.RemoteEntryNotFoundError):
            return HubError(f"{repo_id} has no file {filename}" if filename else f"{what} was not found")
        if isinstance(exc, errors.HfHubHTTPError):
            status = exc.response.status_code if exc.response is not None else 0
            if status == 401:
                return HubError(f"{what}: not authorized; log in with an access token ({_LOGIN})")
            if status == 403:
                return HubError(f"{what}: access denied (403); your token may lack the permission")
            if status == 429:
                return HubError("the Hub is rate-limiting requests (429); wait a minute and try again")
            if status >= 500:
                return HubError(f"the Hub answered {status} (server error); try again later")
            return HubError(f"{what}: the Hub answered {status}")
        if isinstance(exc, errors.LocalEntryNotFoundError):
            return HubOffline(f"offline: cannot reach {self.endpoint} and {what} is not in the local cache")
        if isinstance(exc, errors.HFValidationError):
            return HubError(f"{repo_id!r} is not a valid repository id")
        if isinstance(exc, httpx2.TimeoutException):
            return HubOffline(f"offline: {self.endpoint} did not answer in time")
        if isinstance(exc, httpx2.HTTPError):
            reason = str(exc).split("] ")[-1] or exc.__class__.__name__
            return HubOffline(f"offline: cannot reach {self.endpoint} ({reason})")
        if isinstance(exc, errors.FileMetadataError):
            return HubError(f"{self.endpoint} does not answer like a Hugging Face Hub: {exc}")
        if isinstance(exc, OSError):
            return HubError(f"cannot write to the cache {self.cache_dir}: {exc.strerror or exc}")
        return HubError(f"{what}: {exc}")

    def _call(self, fn: Callable[[], Any], repo_id: str = "", filename: str = "") -> Any:
        import httpx2
        from huggingface_hub import errors

        try:
            return fn()
        except (
            errors.HfHubHTTPError,
            errors.OfflineModeIsEnabled,
            errors.LocalEntryNotFoundError,
            errors.HFValidationError,
            errors.FileMetadataError,
            httpx2.HTTPError,
            OSError,
        ) as exc:
            raise self._error(exc, repo_id, filename) from None

    # -- search and listing ----------------------------------------------------------------------
    def search(self, query: str = "", limit: int = 20, sort: str = "downloads") -> list[HubRepo]:
        """Model repos that hold GGUF files, whose name contains `query`, most downloaded first."""
        self.ensure_online()
        api = self._api()

        def run() -> list[Any]:
            return list(
                api.list_models(
                    search=query.strip() or None,
                    filter="gguf",
                    sort=sort,
                    limit=limit,
                    expand=["downloads", "likes", "lastModified", "gated", "tags"],
                )
            )

        return [
            HubRepo(m.id, int(m.downloads or 0), int(m.likes or 0), m.last_modified, bool(m.gated), tuple(m.tags or ()))
            for m in self._call(run)
        ]

    def list_gguf_files(self, repo_id: str, revision: str = "main") -> list[HubFile]:
        """The GGUF models of a repo with their sizes and quantizations (split parts as one entry)."""
        repo_id, _ = parse_spec(repo_id)
        self.ensure_online()
        api = self._api()

        def run() -> list[tuple[str, int]]:
            from huggingface_hub.hf_api import RepoFile

            tree = api.list_repo_tree(repo_id, recursive=True, revision=revision)
            return [(e.path, e.lfs.size if e.lfs else e.size) for e in tree if isinstance(e, RepoFile)]

        return group_gguf_files(self._call(run, repo_id))

    def resolve(self, spec: str, revision: str = "main") -> tuple[str, HubFile]:
        """`org/repo[:QUANT]` -> (repo id, the file to download)."""
        repo_id, quant = parse_spec(spec)
        return repo_id, pick_file(self.list_gguf_files(repo_id, revision), quant, repo_id)

    # -- downloads -------------------------------------------------------------------------------
    def cached_path(self, repo_id: str, filename: str, revision: str = "main") -> Path | None:
        """The file's path in the local HF cache, or None (no network: works offline)."""
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(self.cache_dir), revision=revision)
        return Path(found) if isinstance(found, str) else None

    def pull(
        self,
        spec: str,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        revision: str = "main",
    ) -> Path:
        """Resolve `org/repo[:QUANT]` and download that model; returns the local path of its (first) file."""
        repo_id, hub_file = self.resolve(spec, revision)
        return self.download(repo_id, hub_file, progress, cancel, revision)

    def download(
        self,
        repo_id: str,
        files: str | Sequence[str] | HubFile,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        revision: str = "main",
    ) -> Path:
        """Download file(s) of a repo into the HF cache and return the local path of the first one.

        Progress is reported as (bytes done, bytes in all) over all files, about ten times a second.
        Setting `cancel` stops within about a second with DownloadCancelled; the partial file
        (`blobs/<etag>.incomplete`) stays, and the next download of the same file resumes from it.
        """
        names = list(files.parts) if isinstance(files, HubFile) else [files] if isinstance(files, str) else files
        if not names:
            raise HubError("nothing to download")
        cancel = cancel or threading.Event()
        self.ensure_online()
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        endpoint = self.endpoint
        metas = []
        for name in names:
            url = hf_hub_url(repo_id, name, revision=revision, endpoint=endpoint)
            fetch = lambda u=url: get_hf_file_metadata(u, token=self.token, endpoint=endpoint)  # noqa: E731
            metas.append(self._call(fetch, repo_id, name))
        total = sum(m.size or 0 for m in metas)
        reporter = _Reporter(progress, total)
        paths: list[Path] = []
        for name, meta in zip(names, metas, strict=True):
            if cancel.is_set():
                raise DownloadCancelled(f"download of {repo_id}/{name} cancelled")
            self._fetch_blob(repo_id, name, meta, reporter, cancel)
            paths.append(self._link(repo_id, name, revision))
        reporter.finish()
        return paths[0]

    def _storage(self, repo_id: str) -> Path:
        from huggingface_hub.file_download import repo_folder_name

        return self.cache_dir / repo_folder_name(repo_id=repo_id, repo_type="model")

    def _link(self, repo_id: str, name: str, revision: str) -> Path:
        """Let huggingface_hub file the fetched blob in its cache (refs, snapshot link): no new transfer."""
        from huggingface_hub import hf_hub_download

        return Path(
            self._call(
                lambda: hf_hub_download(
                    repo_id,
                    name,
                    revision=revision,
                    cache_dir=str(self.cache_dir),
                    endpoint=self.endpoint,
                    token=self.token,
                ),
                repo_id,
                name,
            )
        )

    def _fetch_blob(self, repo_id: str, name: str, meta: Any, reporter: _Reporter, cancel: threading.Event) -> None:
        from filelock import Timeout
        from huggingface_hub.utils import WeakFileLock

        if not meta.etag or not meta.commit_hash:
            raise HubError(f"{self.endpoint} does not look like a Hugging Face Hub (no ETag or commit)")
        storage = self._storage(repo_id)
        blob = storage / "blobs" / meta.etag
        if blob.exists():
            reporter.add(meta.size or blob.stat().st_size)
            return
        lock = self.cache_dir / ".locks" / storage.name / f"{meta.etag}.lock"
        try:
            blob.parent.mkdir(parents=True, exist_ok=True)
            lock.parent.mkdir(parents=True, exist_ok=True)
            with WeakFileLock(lock, timeout=1.0):
                if not blob.exists():
                    self._stream(blob, meta, reporter, cancel, repo_id, name)
                else:
                    reporter.add(meta.size or blob.stat().st_size)
        except Timeout:
            raise HubError(f"{repo_id}/{name} is being downloaded by another process; retry later") from None
        except OSError as exc:
            raise self._error(exc, repo_id, name) from None

    def _stream(
        self, blob: Path, meta: Any, reporter: _Reporter, cancel: threading.Event, repo_id: str, name: str
    ) -> None:
        """GET the file into `<blob>.incomplete`, resuming with a Range request, then move it into place."""
        import httpx2
        from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

        label = f"{repo_id}/{name}"
        part = blob.with_name(blob.name + ".incomplete")
        expected: int | None = meta.size
        pos = part.stat().st_size if part.exists() else 0
        if expected is not None and pos > expected:
            part.unlink()
            pos = 0
        if expected is not None:
            free = shutil.disk_usage(blob.parent).free
            if free < expected - pos:
                raise HubError(
                    f"not enough disk space for {label}: needs {_gib(expected - pos)}, "
                    f"{_gib(free)} free in {self.cache_dir}"
                )
        sha = hashlib.sha256() if _SHA256_RE.match(meta.etag) else None
        if sha is not None and pos:
            _hash_prefix(part, pos, sha, cancel, label)
        reporter.add(pos)
        url = meta.location
        headers = build_hf_headers(token=self.token) if _same_origin(url, self.endpoint) else {}
        headers["Accept-Encoding"] = "identity"
        stalls = 0
        while expected is None or pos < expected:
            if cancel.is_set():
                raise DownloadCancelled(f"download of {label} cancelled")
            req = dict(headers)
            if pos:
                req["Range"] = f"bytes={pos}-"
            try:
                with get_session().stream(
                    "GET",
                    url,
                    headers=req,
                    follow_redirects=True,
                    timeout=httpx2.Timeout(15.0, read=READ_TIMEOUT_S * 2 ** min(stalls, 5)),
                ) as r:
                    if pos and r.status_code in (200, 416):  # Range ignored, or the partial is too long
                        reporter.add(-pos)
                        pos = 0
                        sha = hashlib.sha256() if sha is not None else None
                        if r.status_code == 416:
                            part.unlink(missing_ok=True)
                            continue
                    hf_raise_for_status(r)
                    if expected is None and r.headers.get("Content-Length"):
                        expected = pos + int(r.headers["Content-Length"])
                        reporter.grow(expected)
                    with part.open("ab" if pos else "wb") as f:
                        for chunk in r.iter_bytes():  # as the data arrives: cancel is seen at once
                            if cancel.is_set():
                                raise DownloadCancelled(f"download of {label} cancelled")
                            f.write(chunk)
                            pos += len(chunk)
                            if sha is not None:
                                sha.update(chunk)
                            reporter.add(len(chunk))
                            stalls = 0
                if expected is None:
                    break
                if pos < expected:
                    raise httpx2.RemoteProtocolError("the server closed the connection early")
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
                stalls += 1
                if stalls > MAX_STALLS:
                    raise HubOffline(
                        f"offline: the download of {label} stopped ({exc}); run it again to resume"
                    ) from None
                if cancel.wait(min(0.2 * stalls, 2.0)):
                    raise DownloadCancelled(f"download of {label} cancelled") from None
            except httpx2.HTTPError as exc:  # HTTP errors (HfHubHTTPError included) are not retried
                raise self._error(exc, repo_id, name) from None
        if expected is not None and pos != expected:
            raise HubError(f"{label}: got {pos} bytes instead of {expected}; run the download again")
        if sha is not None and sha.hexdigest() != meta.etag:
            part.unlink(missing_ok=True)
            raise HubError(f"{label}: checksum mismatch (corrupt download, deleted); run the download again")
        os.replace(part, blob)


class _Reporter:
    """Sums bytes over the files of one download and calls `progress` at most ten times a second."""

    def __init__(self, progress: ProgressFn | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = 0
        self._last = 0.0

    def grow(self, size: int) -> None:
        if self.total < size:
            self.total = size

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.progress is not None and now - self._last >= 0.1:
            self._last = now
            self.progress(self.done, self.total)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


def _hash_prefix(path: Path, size: int, sha: Any, cancel: threading.Event, label: str) -> None:
    with path.open("rb") as f:
        left = size
        while left > 0:
            if cancel.is_set():
                raise DownloadCancelled(f"download of {label} cancelled")
            block = f.read(min(8 << 20, left))
            if not block:
                break
            sha.update(block)
            left -= len(block)


def _same_origin(a: str, b: str) -> bool:
    from urllib.parse import urlsplit

    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _gib(n: int) -> str:
    return f"{n / 1024**3:.2f} GiB"
