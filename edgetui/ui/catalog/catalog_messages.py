"""Messages that the catalog, loading and Hub workers post to the UI thread (past tense)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.message import Message

from edgetui.core.models.fit import FitEstimate
from edgetui.core.types import ModelInfo


class ScanProgressed(Message):
    """The catalog scan read `done` of `total` candidate files; a newer one replaces an older one queued."""

    def __init__(self, scan_id: int, done: int, total: int, path: str) -> None:
        super().__init__()
        self.scan_id, self.done, self.total, self.path = scan_id, done, total, path

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ScanProgressed)


class ScanFinished(Message):
    """The catalog scan is done: `catalog` is a core Catalog with its entries (fit annotated)."""

    def __init__(self, scan_id: int, catalog: Any, error: str = "") -> None:
        super().__init__()
        self.scan_id, self.catalog, self.error = scan_id, catalog, error


class LoadNeedsConfirm(Message):
    """The fit estimate says the model does not fit: ask before loading it."""

    def __init__(self, path: Path, estimate: FitEstimate) -> None:
        super().__init__()
        self.path, self.estimate = path, estimate


class ModelReady(Message):
    """A model is loaded on `engine` (which becomes the app's engine); `fit_line` compares prediction and RSS."""

    def __init__(
        self, info: ModelInfo, engine: Any, estimate: FitEstimate | None = None, fit_line: str = "", note: str = ""
    ) -> None:
        super().__init__()
        self.info, self.engine, self.estimate, self.fit_line, self.note = info, engine, estimate, fit_line, note


class HubSearched(Message):
    def __init__(self, query: str, repos: list[Any]) -> None:
        super().__init__()
        self.query, self.repos = query, repos


class HubListed(Message):
    def __init__(self, repo_id: str, files: list[Any]) -> None:
        super().__init__()
        self.repo_id, self.files = repo_id, files


class HubFailed(Message):
    """A Hub action failed; `offline` when the Hub cannot be reached at all."""

    def __init__(self, action: str, error: str, offline: bool = False, cancelled: bool = False) -> None:
        super().__init__()
        self.action, self.error, self.offline, self.cancelled = action, error, offline, cancelled


class DownloadProgressed(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done, self.total = done, total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DownloadProgressed)


class DownloadFinished(Message):
    def __init__(self, repo_id: str, name: str, path: Path) -> None:
        super().__init__()
        self.repo_id, self.name, self.path = repo_id, name, path
