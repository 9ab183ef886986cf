"""Search the Hugging Face Hub for GGUF models and download them, resumably, into the shared HF cache."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edgetui.core.hub.errors import DownloadCancelled, HubError, HubOffline, hub_error
from edgetui.core.hub.files import HubFile, HubRepo, group_gguf_files, parse_spec, pick_file
from edgetui.core.hub.transfer import ProgressFn, TransferProgress, same_origin, stream_blob

__all__ = ["DownloadCancelled", "Hub", "HubError", "HubFile", "HubOffline", "HubRepo", "hub_cache_dir"]

_TRUE = {"1", "ON", "YES", "TRUE"}
PROBE_TIMEOUT_S = 5.0
_PROBE_TTL_S = 60.0


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
        return hub_error(exc, self.endpoint, self.cache_dir, repo_id, filename)

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
        reporter = TransferProgress(progress, total)
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

    def _fetch_blob(
        self, repo_id: str, name: str, meta: Any, reporter: TransferProgress, cancel: threading.Event
    ) -> None:
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
        self, blob: Path, meta: Any, reporter: TransferProgress, cancel: threading.Event, repo_id: str, name: str
    ) -> None:
        """GET the file into `<blob>.incomplete`, resuming with a Range request, then move it into place."""
        stream_blob(
            blob,
            meta,
            reporter,
            cancel,
            f"{repo_id}/{name}",
            self.cache_dir,
            self._auth_headers,
            lambda exc: self._error(exc, repo_id, name),
        )

    def _auth_headers(self, url: str) -> dict[str, str]:
        """The token goes only to the Hub itself, never to a CDN it redirects to."""
        from huggingface_hub.utils import build_hf_headers

        return build_hf_headers(token=self.token) if same_origin(url, self.endpoint) else {}
