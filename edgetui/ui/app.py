"""The Textual app and its factory: services (engine, settings) are injected, never built at import."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding

from edgetui.config import Config
from edgetui.core.engine import Engine, LlamaEngine
from edgetui.core.types import EngineError, GenerationStats, LoadOptions, SamplerSettings
from edgetui.paths import Paths
from edgetui.ui.messages import ModelLoaded, ModelLoadFailed, ModelLoadStarted
from edgetui.ui.screens.main_screen import MainScreen
from edgetui.ui.widgets.catalog_pane import CatalogPane, CatalogRow
from edgetui.ui.widgets.chat_pane import ChatPane
from edgetui.ui.widgets.gauge_pane import GaugePane


def styles_dir() -> Path:
    """The .tcss files: inside the wheel (edgetui/styles) or at the repository root (editable installs)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "styles", package.parent / "styles"):
        if candidate.is_dir():
            return candidate
    return package / "styles"


@dataclass
class Services:
    """What the app works with; tests pass fakes."""

    config: Config
    paths: Paths
    engine: Engine = field(default_factory=LlamaEngine)


class EdgeApp(App[None]):
    """edgetui's full-screen app."""

    TITLE = "edgetui"
    CSS_PATH = [styles_dir() / name for name in ("app.tcss", "chat.tcss", "catalog.tcss", "gauges.tcss")]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("escape", "stop", "Stop", priority=True),
        Binding("ctrl+n", "new_session", "New chat"),
        Binding("f2", "toggle_pane('catalog')", "Catalog"),
        Binding("f3", "toggle_pane('gauges')", "Gauges"),
    ]

    def __init__(self, services: Services, model_path: Path | None = None) -> None:
        super().__init__()
        self.services = services
        self.config = services.config
        self.paths = services.paths
        self.engine: Engine = services.engine
        self.sampler: SamplerSettings = services.config.sampler
        self.model_path = model_path
        self._rate_points: deque[tuple[float, int]] = deque(maxlen=256)
        self._rate_history: list[float] = []

    def on_mount(self) -> None:
        self.push_screen(MainScreen())
        self.call_after_refresh(self._after_start)

    def _after_start(self) -> None:
        self.scan_models()
        if self.model_path is not None:
            self.load_model(self.model_path)
        self.set_interval(0.5, self.sample_metrics)

    # -- panes --------------------------------------------------------------------------------------
    @property
    def chat(self) -> ChatPane:
        return self.screen.query_one(ChatPane)

    @property
    def gauges(self) -> GaugePane:
        return self.screen.query_one(GaugePane)

    @property
    def catalog(self) -> CatalogPane:
        return self.screen.query_one(CatalogPane)

    def action_toggle_pane(self, pane: str) -> None:
        widget = self.screen.query_one(f"#{pane}")
        widget.display = not widget.display

    def action_stop(self) -> None:
        if not self.chat.stop() and len(self.screen_stack) > 2:
            self.pop_screen()

    async def action_new_session(self) -> None:
        await self.chat.clear()

    # -- models -------------------------------------------------------------------------------------
    def scan_models(self) -> None:
        from edgetui.core.default_model import default_model_path

        rows: list[CatalogRow] = []
        default = default_model_path()
        if default is not None:
            rows.append(
                CatalogRow(str(default), "SmolLM2-135M-Instruct (bundled)", "Q4_1", _size(default), default)
            )
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
        self.sub_title = f"{info.name} · {info.quant}"
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

    # -- gauges -------------------------------------------------------------------------------------
    def sample_metrics(self) -> None:
        import psutil

        try:
            rss = psutil.Process().memory_info().rss
            vm = psutil.virtual_memory()
            cpu = psutil.Process().cpu_percent(interval=None)
        except Exception:
            return
        self.gauges.show_memory(rss, vm.total - vm.available, vm.total, cpu)

    def token_rate_reset(self) -> None:
        self._rate_points.clear()

    def token_rate_add(self, t: float, tokens: int) -> None:
        points = self._rate_points
        points.append((t, tokens))
        while len(points) > 2 and t - points[0][0] > 1.0:
            points.popleft()
        span = t - points[0][0]
        current = sum(n for _, n in list(points)[1:]) / span if span > 0 else 0.0
        self._rate_history.append(current)
        del self._rate_history[:-120]
        smoothed = sum(self._rate_history[-20:]) / min(len(self._rate_history), 20)
        self.gauges.show_rate(current, smoothed, self._rate_history)

    def generation_finished(self, stats: GenerationStats) -> None:
        self.gauges.show_last(stats)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def create_app(
    config: Config, paths: Paths, *, engine: Engine | None = None, model_path: Path | None = None
) -> EdgeApp:
    """Build the app with its services; `engine` defaults to an in-process llama.cpp engine."""
    services = Services(config=config, paths=paths, engine=engine or LlamaEngine())
    return EdgeApp(services, model_path=model_path)
