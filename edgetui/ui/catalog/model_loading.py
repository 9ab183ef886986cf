"""Model management for the app: fit check, loading in a worker, local or remote engine, deleting files."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from edgetui.core.engines.remote import REMOTE_PREFIX
from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.models.catalog import CatalogEntry, format_bytes
from edgetui.core.models.fit import NO_FIT, FitEstimate, Resources, estimate_fit, n_gpu_layers_auto, relative_error
from edgetui.core.types import EngineError, LoadOptions
from edgetui.core.visible_text import visible
from edgetui.ui.catalog.catalog_messages import LoadNeedsConfirm, ModelReady
from edgetui.ui.catalog.catalog_pane import CatalogPane, RemoteRow
from edgetui.ui.messages import ModelLoadFailed

if TYPE_CHECKING:
    from edgetui.config import Endpoint
    from edgetui.ui.app import EdgeApp

    _Base = EdgeApp
else:
    _Base = object


def fit_text(predicted: int, measured: int) -> str:
    """'fit: predicted 130 MiB, measured 118 MiB (+10%)': the estimate against the RSS growth of a load."""
    err = relative_error(predicted, measured)
    pct = f"{err * 100:+.0f}%" if measured else "n/a"
    return f"fit: predicted {format_bytes(predicted)}, measured {format_bytes(measured)} ({pct})"


def is_remote_of(endpoint_name: str, path: Path | str) -> bool:
    """True for `openai:<name>/<model>` and for `openai:<name>` (a path of the endpoint's default model)."""
    text, prefix = str(path), f"{REMOTE_PREFIX}{endpoint_name}"
    return text == prefix or text.startswith(prefix + "/")


def _vram_used() -> int:
    from edgetui.core.system.gpu import shared_monitor

    return sum(g.vram_used or 0 for g in shared_monitor().sample())


def deletion_plan(entry: CatalogEntry) -> str | tuple[str, Callable[[], object]]:
    """(confirmation text, a function that deletes) for a model's file(s), or why it is refused.

    Files in the Hugging Face cache go through huggingface_hub's cache API, which deletes whole revisions:
    allowed when the revision holds no other GGUF model, refused (with the command to use) otherwise."""
    files = entry.parts or [entry.path]
    if entry.source != "hf":
        listing = "\n".join(f"  {p}" for p in files)
        return f"Delete {entry.name} ({format_bytes(entry.size)}) from disk?\n{listing}", lambda: _unlink(files)
    from huggingface_hub import scan_cache_dir

    from edgetui.core.models.catalog import hf_cache_dir

    try:
        cache = scan_cache_dir(hf_cache_dir(os.environ))
    except Exception as exc:
        return f"Cannot read the Hugging Face cache: {exc}"
    mine = {str(p) for p in files}
    for repo in cache.repos:
        for rev in repo.revisions:
            if not mine & {str(f.file_path) for f in rev.files}:
                continue
            others = [f.file_name for f in rev.files if f.file_name.lower().endswith(".gguf")
                      and str(f.file_path) not in mine]  # fmt: skip
            if others:
                return (
                    f"{entry.name} shares its Hugging Face cache revision with other models "
                    f"({', '.join(others[:3])}): delete them together with `hf cache delete`."
                )
            strategy = cache.delete_revisions(rev.commit_hash)
            body = (
                f"{entry.name} is in the Hugging Face cache (shared with other tools).\n"
                f"Delete the cached revision {repo.repo_id}@{rev.commit_hash[:8]} "
                f"({len(rev.files)} file(s), {format_bytes(strategy.expected_freed_size)})?"
            )
            return body, strategy.execute
    return f"{entry.name} is not in the Hugging Face cache any more: rescan (r)."


def _unlink(files: list[Path]) -> None:
    for p in files:
        p.unlink()


class ModelLoading(_Base):
    """A mixin of EdgeApp: choosing a model in the catalog, the fit check, loading it, switching engines.

    The app's engine (`self.engine`) is the injected local engine (`self.services.engine`) or, after a
    remote row was loaded, an OpenAIEngine; loading a local row again goes back to the local one.
    """

    last_fit_line = ""  # predicted vs measured memory of the last load
    # Tests (or a future --ram flag) inject the memory the fit check sees; None = probe the machine.
    fit_resources_override: Resources | None = None

    def fit_resources(self) -> Resources:
        if self.fit_resources_override is not None:
            return self.fit_resources_override
        from edgetui.core.models.fit import probe_resources

        return probe_resources()

    def scan_models(self) -> None:
        self.catalog.rescan()

    def action_rescan_models(self) -> None:
        self.catalog.rescan()

    def action_hub(self) -> None:
        from edgetui.ui.catalog.hub_screen import HubScreen

        self.push_screen(HubScreen())

    def on_catalog_pane_model_chosen(self, message: CatalogPane.ModelChosen) -> None:
        if self.chat.generating:
            self.notify("Stop the answer first (Esc).", severity="warning")
            return
        self.load_model(message.path)

    def load_model(self, path: Path | str, confirmed: bool = False) -> None:
        """Load in a worker: a local file after its fit check (asks when it does not fit), or an endpoint."""
        path = Path(path)
        self.chat.set_status(f"Loading {path.name} …")
        self.catalog.set_status(f"Loading {path.name}…")
        self._load_model(path, confirmed)

    def load_options(self, header: GGUFHeader | None = None, resources: Resources | None = None) -> LoadOptions:
        """The config's load settings, n_gpu_layers -2 (auto) resolved with the fit estimate (0 without a GPU)."""
        gpu = self.config.n_gpu_layers
        if gpu == -2:
            res = resources or self.fit_resources()
            gpu = n_gpu_layers_auto(header, self.config.n_ctx, res.vram_free) if header is not None else 0
        return LoadOptions(n_ctx=self.config.n_ctx, n_threads=self.config.threads, n_gpu_layers=gpu)

    def endpoint_for(self, path: Path | str) -> Endpoint | None:
        """The configured endpoint a remote path (`openai:<name>/<model>` or `openai:<name>`) points at."""
        return next((ep for ep in self.config.endpoints if is_remote_of(ep.name, path)), None)

    # -- deleting a model's file ---------------------------------------------------------------------------
    def delete_refusal(self, item: CatalogEntry | RemoteRow) -> str:
        """Why this catalog row must not be deleted ('' when it may be)."""
        from edgetui.core.models.default import default_model_path

        if isinstance(item, RemoteRow):
            return "This is a remote endpoint, not a file: remove it from config.toml's [[endpoints]]."
        info = self.engine.info
        if info is not None and self.catalog.find(info.path) is item:
            return "This model is loaded: load another one first."
        default = default_model_path()
        if item.source == "default" or (default is not None and item.realpath == os.path.realpath(default)):
            return "The bundled default model is never deleted (it ships with the app)."
        if item.source == "ollama":
            return f"Ollama manages this file: remove it with `ollama rm {item.name}`."
        return ""

    @work(exclusive=True, group="delete")
    async def delete_model(self, item: CatalogEntry | RemoteRow) -> None:
        """Ask, then delete the file(s) of a catalog row and rescan; refusals are explained."""
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        refusal = self.delete_refusal(item)
        if refusal or not isinstance(item, CatalogEntry):
            self.notify(refusal, title="Not deleted", severity="warning", timeout=8, markup=False)
            return
        plan = await asyncio.to_thread(deletion_plan, item)
        if isinstance(plan, str):
            self.notify(plan, title="Not deleted", severity="warning", timeout=10, markup=False)
            return
        body, run = plan
        if not await self.push_screen_wait(ConfirmDialog("Delete model", body, yes="Delete")):
            return
        try:
            await asyncio.to_thread(run)
        except Exception as exc:
            self.notify(f"Could not delete {item.name}: {exc}", severity="error", timeout=10, markup=False)
        else:
            self.notify(f"Deleted {item.name}.", timeout=4, markup=False)
        self.catalog.rescan()

    # -- the worker: thin wrappers over the core calls ---------------------------------------------------
    @work(thread=True, exclusive=True, group="load")
    def _load_model(self, path: Path, confirmed: bool) -> None:
        try:
            ready = (
                self._open_remote(path) if str(path).startswith(REMOTE_PREFIX) else self._open_local(path, confirmed)
            )
        except EngineError as exc:
            self.post_message(ModelLoadFailed(str(path), str(exc)))
        except Exception as exc:  # never a traceback in the UI
            self.post_message(ModelLoadFailed(str(path), f"{exc.__class__.__name__}: {exc}"))
        else:
            if ready is not None:
                self.post_message(ready)

    def _open_local(self, path: Path, confirmed: bool) -> ModelReady | None:
        from edgetui.core.gguf.read import read_model

        resources = self.fit_resources()
        try:
            header: GGUFHeader | None = read_model(path)
        except (ValueError, OSError):  # GGUFError is a ValueError; the engine explains the file's problem
            header = None
        options = self.load_options(header, resources)
        estimate = estimate_fit(header, options.n_ctx, options.n_gpu_layers, resources) if header else None
        if estimate is not None and estimate.verdict == NO_FIT and not confirmed:
            self.post_message(LoadNeedsConfirm(path, estimate))
            return None
        engine, previous = self.services.engine, self.engine
        vram0 = _vram_used() if options.n_gpu_layers else 0
        info = engine.load(path, options)
        vram_delta = max(0, _vram_used() - vram0) if options.n_gpu_layers else 0
        if previous is not engine:
            previous.unload()  # the remote engine's connections
        fit_line = note = ""
        measured = info.rss_delta_bytes + vram_delta
        if estimate is not None and measured > 0:
            fit_line = fit_text(estimate.total_needed, measured)
            try:
                self.store.add_fit_measurement(info.path, info.n_ctx, estimate.total_needed, measured)
            except Exception as exc:
                note = f"The fit measurement was not saved: {exc}"
        return ModelReady(info, engine, estimate, fit_line, note)

    def _open_remote(self, path: Path) -> ModelReady:
        from edgetui.core.engines.remote import OpenAIEngine

        endpoint = self.endpoint_for(path)
        if endpoint is None:
            raise EngineError(f"No endpoint is configured for {path}: add it to config.toml's [[endpoints]]")
        engine = OpenAIEngine(endpoint)
        info = engine.load(path if str(path).startswith(f"{REMOTE_PREFIX}{endpoint.name}/") else "")
        previous = self.engine
        previous.unload()  # the local model's memory, or the previous endpoint's connections
        return ModelReady(info, engine)

    # -- handlers on the UI thread ------------------------------------------------------------------------
    def on_load_needs_confirm(self, message: LoadNeedsConfirm) -> None:
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        est, path = message.estimate, message.path
        body = (
            f"{path.name} does not fit: it {est.reason} (context {est.n_ctx}).\n"
            "Loading it anyway may make the machine swap, or the load may fail."
        )

        def answered(ok: bool | None) -> None:
            if ok:
                self.load_model(path, confirmed=True)
            else:
                self.chat.set_status(f"Not loaded: {path.name} does not fit ({est.reason}).", warn=True)
                self.catalog.show_highlighted()

        self.push_screen(ConfirmDialog("Model does not fit", body, yes="Load anyway", no="Cancel"), answered)

    def on_model_ready(self, message: ModelReady) -> None:
        info = message.info
        self.engine = message.engine
        self.last_fit_line = message.fit_line
        self.sub_title = visible(info.name)  # (a file name: anything but / and NUL)
        self.catalog.mark_loaded(info.path, message.fit_line)
        est: FitEstimate | None = message.estimate
        self.gauges.show_model(info, kv_bytes=(est.kv_cpu + est.kv_gpu) if est is not None else None)
        self.chat.refresh_status()
        self.chat.measure_context()  # (a session opened before the model was there: its context is counted now)
        self.main_screen.focus_prompt()  # (chosen in the catalog: the next thing to do is to type)
        self.remember("model", str(info.path))  # loaded again at the next start
        where = f" from {info.path.parent.name}" if info.backend == "remote" else ""
        text = f"Loaded {info.name}{where} in {info.load_s:.2f} s"
        self.notify(f"{text}\n{message.fit_line}" if message.fit_line else text, timeout=6, markup=False)
        if message.note:
            self.notify(message.note, severity="warning", timeout=8, markup=False)
        if info.chat_template_note:  # said once, where it stays: in the conversation
            self.call_later(self.chat.add_notice, info.chat_template_note)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.chat.set_status(f"Could not load the model: {message.error}", warn=True)
        self.catalog.show_highlighted()
        self.notify(message.error, title="Model not loaded", severity="error", timeout=15, markup=False)
