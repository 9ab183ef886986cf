"""The Hub screen: search the Hugging Face Hub for GGUF models, list a repo's files, download one (resumable)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Label, ProgressBar, Static

from edgetui.core.hub.hub import DownloadCancelled, Hub, HubError, HubFile, HubOffline, HubRepo
from edgetui.core.models.fit import CPU_OVERHEAD, FITS, Resources, probe_resources, verdict_for
from edgetui.core.units import format_bytes
from edgetui.core.visible_text import visible
from edgetui.ui.catalog.catalog_messages import DownloadFinished, DownloadProgressed, HubFailed, HubListed, HubSearched
from edgetui.ui.catalog.catalog_pane import FIT_SYMBOL
from edgetui.ui.widgets.key_footer import KeyFooter
from edgetui.ui.widgets.plain_text import PlainInput, cell

SEARCH_LIMIT = 30


def size_verdict(size: int, resources: Resources) -> str:
    """A quick fit verdict from the file size alone (weights + ~10% for the KV cache and buffers)."""
    return verdict_for(size + size // 10 + CPU_OVERHEAD, resources.ram_available + resources.vram_free)


def _text(value: str) -> Text:
    """A table cell that is never read as markup, control characters as marks (names come from the network)."""
    return cell(value, no_wrap=True, end="")


class HubScreen(Screen[None]):
    """Enter searches (in the box), lists a repo's GGUF files (repos table), downloads one (files table);
    Escape cancels a download (the partial file is kept: the next download resumes), else goes back.

    `fit_resources` is the memory the files' fit symbols are judged against (default: this machine's). A finished
    download's `DownloadFinished` goes on to the app, which rescans the catalog."""

    BINDINGS = [Binding("escape", "back", "Back / cancel download"), Binding("slash", "focus_search", "Search")]

    def __init__(self, hub: Hub | None = None, *, fit_resources: Callable[[], Resources] | None = None) -> None:
        super().__init__()
        self.hub = hub or Hub()
        self.fit_resources = fit_resources or probe_resources
        self.repos: dict[str, HubRepo] = {}
        self.files: dict[str, HubFile] = {}
        self.repo_id = ""
        self.offline = ""  # the offline message, once the Hub could not be reached
        self.downloading = False
        self.cancel_event: threading.Event | None = None
        self.resources: Resources | None = None
        self.downloaded: list[Path] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="hub"):
            yield Label("Hugging Face Hub: GGUF models", classes="pane-title")
            yield Static("", id="hub-offline", markup=False)
            yield PlainInput(placeholder="Search GGUF models (Enter searches)", id="hub-search")
            yield DataTable(id="hub-repos", cursor_type="row", zebra_stripes=True)
            title = "Files: Enter on a repository lists them"
            yield Label(title, id="hub-files-title", classes="pane-title", markup=False)
            yield DataTable(id="hub-files", cursor_type="row", zebra_stripes=True)
            yield ProgressBar(id="hub-progress", show_eta=True)
            yield Static("", id="hub-status", markup=False)
        yield KeyFooter()

    def on_mount(self) -> None:
        repos = self.query_one("#hub-repos", DataTable)
        for key, label in (("repo", "Repository"), ("downloads", "Downloads"), ("likes", "Likes"),
                           ("updated", "Updated"), ("gated", "")):  # fmt: skip
            repos.add_column(label, key=key)
        files = self.query_one("#hub-files", DataTable)
        for key, label in (("fit", ""), ("file", "File"), ("quant", "Quant"), ("size", "Size"), ("note", "")):
            files.add_column(label, key=key)
        self.query_one(ProgressBar).display = False
        self.query_one("#hub-offline").display = False
        self.query_one("#hub-search", Input).focus()
        if Hub.offline_mode():
            self.show_offline(
                "offline: HF_HUB_OFFLINE is set, so the Hugging Face Hub is not contacted "
                "(unset it to search and download; local models still work)"
            )
            return
        self.search("")

    # -- status ---------------------------------------------------------------------------------------
    def set_status(self, text: str, warn: bool = False) -> None:
        status = self.query_one("#hub-status", Static)
        status.update(visible(text))  # (repository and file names, the Hub's errors)
        status.set_class(warn, "-warn")

    def show_offline(self, message: str) -> None:
        self.offline = message
        banner = self.query_one("#hub-offline", Static)
        banner.update(Text(visible(f"OFFLINE: {message.removeprefix('offline: ')}"), style="bold"))
        banner.display = True
        self.set_status(message, warn=True)

    # -- search and listing -----------------------------------------------------------------------------
    def search(self, query: str) -> None:
        self.set_status(f"Searching for {query!r}…" if query else "Most downloaded GGUF repositories…")
        self._search(query)

    @work(thread=True, exclusive=True, group="hub-search")
    def _search(self, query: str) -> None:
        try:
            repos = self.hub.search(query, limit=SEARCH_LIMIT)
        except HubError as exc:
            self.post_message(HubFailed("search", str(exc), offline=isinstance(exc, HubOffline)))
        except Exception as exc:  # never a traceback in the UI
            self.post_message(HubFailed("search", f"{exc.__class__.__name__}: {exc}"))
        else:
            self.post_message(HubSearched(query, repos))

    @on(Input.Submitted, "#hub-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.search(event.value.strip())

    def on_hub_searched(self, message: HubSearched) -> None:
        self.offline = ""
        self.query_one("#hub-offline").display = False
        table = self.query_one("#hub-repos", DataTable)
        table.clear()
        self.repos = {r.repo_id: r for r in message.repos}
        for r in message.repos:
            updated = r.updated.strftime("%Y-%m-%d") if r.updated else ""
            cells = (r.repo_id, f"{r.downloads:,}", f"{r.likes:,}", updated, "gated" if r.gated else "")
            table.add_row(*(_text(c) for c in cells), key=r.repo_id)
        what = f"matching {message.query!r}" if message.query else "(most downloaded)"
        self.set_status(f"{len(message.repos)} GGUF repositories {what} · Enter lists a repository's files")
        if message.repos and message.query:
            table.focus()

    @on(DataTable.RowSelected, "#hub-repos")
    def _repo_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        repo_id = event.row_key.value
        if repo_id:
            self.repo_id = repo_id
            self.set_status(f"Listing the GGUF files of {repo_id}…")
            self._list(repo_id)

    @work(thread=True, exclusive=True, group="hub-list")
    def _list(self, repo_id: str) -> None:
        try:
            files = self.hub.list_gguf_files(repo_id)
            if self.resources is None:
                self.resources = self.fit_resources()
        except HubError as exc:
            self.post_message(HubFailed("list", str(exc), offline=isinstance(exc, HubOffline)))
        except Exception as exc:
            self.post_message(HubFailed("list", f"{exc.__class__.__name__}: {exc}"))
        else:
            self.post_message(HubListed(repo_id, files))

    def on_hub_listed(self, message: HubListed) -> None:
        if message.repo_id != self.repo_id:
            return
        table = self.query_one("#hub-files", DataTable)
        table.clear()
        self.files = {f.name: f for f in message.files}
        for f in message.files:
            verdict = size_verdict(f.size, self.resources) if self.resources and f.kind == "model" else ""
            note = f"{len(f.parts)} parts" if f.split else ("vision projector" if f.kind == "mmproj" else "")
            if verdict and verdict != FITS:
                note = f"{verdict} · {note}" if note else verdict
            cells = (FIT_SYMBOL.get(verdict, " "), f.name, f.quant, format_bytes(f.size), note)
            table.add_row(*(_text(c) for c in cells), key=f.name)
        self.query_one("#hub-files-title", Label).update(f"Files of {message.repo_id}: Enter downloads")
        self.set_status(f"{len(message.files)} GGUF file(s) · fit by file size vs free memory · Enter downloads")
        if message.files:
            table.focus()

    # -- downloading ------------------------------------------------------------------------------------
    @on(DataTable.RowSelected, "#hub-files")
    def _file_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        name = event.row_key.value
        if name in self.files:
            self.download(self.repo_id, self.files[name])

    def download(self, repo_id: str, file: HubFile) -> None:
        if self.downloading:
            self.set_status("A download is under way: Esc cancels it first.", warn=True)
            return
        self.downloading = True
        self.cancel_event = threading.Event()
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=file.size or None, progress=0)
        self.set_status(f"Downloading {file.name} ({format_bytes(file.size)})… Esc cancels, the partial file is kept")
        self._download(repo_id, file, self.cancel_event)

    @work(thread=True, exclusive=True, group="hub-download")
    def _download(self, repo_id: str, file: HubFile, cancel: threading.Event) -> None:
        try:
            path = self.hub.download(
                repo_id, file, progress=lambda d, t: self.post_message(DownloadProgressed(d, t)), cancel=cancel
            )
        except DownloadCancelled as exc:
            self.post_message(HubFailed("download", str(exc), cancelled=True))
        except HubError as exc:
            self.post_message(HubFailed("download", str(exc), offline=isinstance(exc, HubOffline)))
        except Exception as exc:
            self.post_message(HubFailed("download", f"{exc.__class__.__name__}: {exc}"))
        else:
            self.post_message(DownloadFinished(repo_id, file.name, path))

    def on_download_progressed(self, message: DownloadProgressed) -> None:
        if self.downloading:
            self.query_one(ProgressBar).update(total=message.total or None, progress=message.done)

    def on_download_finished(self, message: DownloadFinished) -> None:
        self.downloading = False
        self.cancel_event = None
        self.query_one(ProgressBar).update(progress=self.query_one(ProgressBar).total or 0)
        self.downloaded.append(message.path)
        self.set_status(f"Downloaded {message.name} to {message.path} · it is in the catalog now")
        self.app.notify(f"Downloaded {Path(message.name).name}.", timeout=5, markup=False)

    def on_hub_failed(self, message: HubFailed) -> None:
        if message.action == "download":
            self.downloading = False
            self.cancel_event = None
            self.query_one(ProgressBar).display = False
        if message.cancelled:
            self.set_status("Download cancelled: the partial file is kept, download again to resume.", warn=True)
        elif message.offline:
            self.show_offline(message.error)
        else:
            self.set_status(message.error, warn=True)

    # -- keys ---------------------------------------------------------------------------------------------
    def action_back(self) -> None:
        if self.downloading and self.cancel_event is not None:
            self.cancel_event.set()
            self.set_status("Cancelling the download…", warn=True)
            return
        self.dismiss(None)

    def action_focus_search(self) -> None:
        self.query_one("#hub-search", Input).focus()

    def on_unmount(self) -> None:
        if self.cancel_event is not None:
            self.cancel_event.set()
