"""The Hub's user-facing errors, and the mapping of huggingface_hub and network failures onto them."""

from __future__ import annotations

from pathlib import Path

from edgetui.core.types import EngineError

_LOGIN = "`hf auth login` or HF_TOKEN"


class HubError(EngineError):
    """A Hub action failed; the message is written for the user."""


class HubOffline(HubError):
    """The Hub cannot be reached (offline mode, no network, endpoint down); messages start with 'offline:'."""


class DownloadCancelled(HubError):
    """The download was cancelled; its partial file is kept so that the next download resumes it."""


def hub_error(exc: BaseException, endpoint: str, cache_dir: Path, repo_id: str = "", filename: str = "") -> HubError:
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
            f"{repo_id or what} is gated: accept its terms at {endpoint}/{repo_id} "
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
        return HubOffline(f"offline: cannot reach {endpoint} and {what} is not in the local cache")
    if isinstance(exc, errors.HFValidationError):
        return HubError(f"{repo_id!r} is not a valid repository id")
    if isinstance(exc, httpx2.TimeoutException):
        return HubOffline(f"offline: {endpoint} did not answer in time")
    if isinstance(exc, httpx2.HTTPError):
        reason = str(exc).split("] ")[-1] or exc.__class__.__name__
        return HubOffline(f"offline: cannot reach {endpoint} ({reason})")
    if isinstance(exc, errors.FileMetadataError):
        return HubError(f"{endpoint} does not answer like a Hugging Face Hub: {exc}")
    if isinstance(exc, OSError):
        return HubError(f"cannot write to the cache {cache_dir}: {exc.strerror or exc}")
    return HubError(f"{what}: {exc}")
