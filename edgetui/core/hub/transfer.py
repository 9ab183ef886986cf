"""The resumable, checksummed, cancellable GET of one Hub blob into the cache, with progress over all files."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgetui.core.hub.errors import DownloadCancelled, HubError, HubOffline
from edgetui.core.units import format_bytes

ProgressFn = Callable[[int, int], None]  # (bytes done, bytes in all; 0 when unknown)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
# A read that stalls this long is retried from where it stopped (with a longer wait after each stall in a row),
# so that a cancel is never blocked for long on a silent connection.
READ_TIMEOUT_S = 1.0
MAX_STALLS = 15


def stream_blob(
    blob: Path,
    meta: Any,
    reporter: TransferProgress,
    cancel: threading.Event,
    label: str,
    cache_dir: Path,
    auth_headers: Callable[[str], dict[str, str]],
    on_http_error: Callable[[BaseException], HubError],
) -> None:
    """GET the file into `<blob>.incomplete`, resuming with a Range request, then move it into place."""
    import httpx2
    from huggingface_hub.utils import get_session, hf_raise_for_status

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
                f"not enough disk space for {label}: needs {format_bytes(expected - pos)}, "
                f"{format_bytes(free)} free in {cache_dir}"
            )
    sha = hashlib.sha256() if _SHA256_RE.match(meta.etag) else None
    if sha is not None and pos:
        _hash_prefix(part, pos, sha, cancel, label)
    reporter.add(pos)
    url = meta.location
    headers = auth_headers(url)
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
                raise HubOffline(f"offline: the download of {label} stopped ({exc}); run it again to resume") from None
            if cancel.wait(min(0.2 * stalls, 2.0)):
                raise DownloadCancelled(f"download of {label} cancelled") from None
        except httpx2.HTTPError as exc:  # HTTP errors (HfHubHTTPError included) are not retried
            raise on_http_error(exc) from None
    if expected is not None and pos != expected:
        raise HubError(f"{label}: got {pos} bytes instead of {expected}; run the download again")
    if sha is not None and sha.hexdigest() != meta.etag:
        part.unlink(missing_ok=True)
        raise HubError(f"{label}: checksum mismatch (corrupt download, deleted); run the download again")
    os.replace(part, blob)


class TransferProgress:
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


def same_origin(a: str, b: str) -> bool:
    from urllib.parse import urlsplit

    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)
