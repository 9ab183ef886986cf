"""Model loading for the app: the catalog's rows, loading in a worker, and what the UI shows after a load."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from edgetui.core.types import EngineError, LoadOptions
from edgetui.ui.messages import ModelLoaded, ModelLoadFailed, ModelLoadStarted
from edgetui.ui.widgets.catalog_pane import CatalogPane, CatalogRow

if TYPE_CHECKING:
    from edgetui.ui.app import EdgeApp

    _Base = EdgeApp
else:
    _Base = object


class ModelLoading(_Base):
    """A mixin of EdgeApp: everything about choosing and loading a model."""

    def scan_models(self) -> None:
        from edgetui.core.default_model import default_model_path

        rows: list[CatalogRow] = []
        default = default_model_path()
        if default is not None:
            rows.append(CatalogRow(str(default), "SmolLM2-135M-Instruct (bundled)", "Q4_1", _size(default), default))
        if self.paths.models_dir.is_dir():
            for path in sorted(self.paths.models_dir.glob("*.gguf")):
                rows.append(CatalogRow(str(path), path.stem, "", _size(path), path))
        self.catalog.set_rows(rows)

    def on_catalog_pane_model_chosen(self, message: CatalogPane.ModelChosen) -> None:
        if self.chat.generating:
            self.notify("Stop the answer first (Esc).", severity="warning")
            return
        self.load_model(message.path)

    def load_model(self, path: Path) -> None:
        self.chat.set_status(f"Loading {path.name} …")
        self._load_model(path, self.load_options())

    def load_options(self) -> LoadOptions:
        gpu = self.config.n_gpu_layers
        return LoadOptions(n_ctx=self.config.n_ctx, n_threads=self.config.threads, n_gpu_layers=max(gpu, 0))

    @work(thread=True, exclusive=True, group="load")
    def _load_model(self, path: Path, options: LoadOptions) -> None:
        self.post_message(ModelLoadStarted(str(path)))
        try:
            info = self.engine.load(path, options)
        except EngineError as exc:
            self.post_message(ModelLoadFailed(str(path), str(exc)))
        except Exception as exc:  # never a traceback in the UI
            self.post_message(ModelLoadFailed(str(path), f"{exc.__class__.__name__}: {exc}"))
        else:
            self.post_message(ModelLoaded(info))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        info = message.info
        self.sub_title = info.name
        self.catalog.mark_loaded(info.path)
        self.gauges.show_model(info)
        self.chat.refresh_status()
        self.notify(f"Loaded {info.path.name} in {info.load_s:.2f} s", timeout=3)
        if info.chat_template_note:
            self.notify(info.chat_template_note, severity="warning", timeout=10)
            self.call_later(self.chat.add_notice, info.chat_template_note)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.chat.set_status(f"Could not load the model: {message.error}", warn=True)
        self.notify(message.error, title="Model not loaded", severity="error", timeout=15)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
