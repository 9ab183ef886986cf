"""ModelLoader: the app's model loads, one at a time in a thread worker that only posts messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.message import Message

from edgetui.config import Config
from edgetui.core.engines.factory import make_engine
from edgetui.core.engines.llama import Engine
from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.models.fit import FitEstimate, Resources
from edgetui.core.models.load_plan import LoadPlan, load_options
from edgetui.core.models.ref import ModelRef
from edgetui.core.store.background_writes import BackgroundWrites
from edgetui.core.store.store import Store
from edgetui.core.types import EngineError, LoadOptions, ModelInfo
from edgetui.ui.catalog.catalog_messages import LoadNeedsConfirm, ModelReady
from edgetui.ui.messages import ModelLoadFailed


def _vram_used() -> int:
    from edgetui.core.system.gpu import shared_monitor

    return sum(g.vram_used or 0 for g in shared_monitor().sample())


def confirm_question(ref: ModelRef, estimate: FitEstimate) -> str:
    """What the user is asked before a model that does not fit is loaded anyway."""
    return (
        f"{ref.name} does not fit: it {estimate.reason} (context {estimate.n_ctx}).\n"
        "Loading it anyway may make the machine swap, or the load may fail."
    )


def loaded_text(info: ModelInfo, fit_line: str = "") -> str:
    """'Loaded NAME in 0.42 s' (a remote model: from which endpoint), and the fit line under it."""
    ref = ModelRef.parse(info.path)
    where = f" from {ModelRef.remote(ref.endpoint)}" if ref.is_remote else ""
    text = f"Loaded {info.name}{where} in {info.load_s:.2f} s"
    return f"{text}\n{fit_line}" if fit_line else text


class ModelLoader:
    """Loads the models the app asks for: a local file (after its fit check) on the local engine, or a model of a
    configured endpoint on an OpenAIEngine (`make_engine`); the model loaded before is unloaded once the new one is.

    The blocking part runs in a thread worker (`run_worker`, the app's) that only posts messages (`post_message`,
    the app's): LoadNeedsConfirm (the estimate says it does not fit), ModelReady, or ModelLoadFailed with the error
    in one line. The app's handlers own what the widgets show, and hand back the engine in use (`engine`) once
    ModelReady arrives: the injected local engine (`local`), or an OpenAIEngine after a remote model was loaded.
    """

    def __init__(
        self,
        local: Engine,
        store: Store,
        config: Config,
        post_message: Callable[[Message], object],
        run_worker: Callable[..., Any],
        resources: Callable[[], Resources],
        writes: BackgroundWrites | None = None,
    ) -> None:
        self.local = local
        self.writes = writes  # (the fit measurement: written without holding up the load)
        self.engine: Engine = local
        self.store = store
        self.config = config
        self.post_message = post_message
        self.run_worker = run_worker
        self.resources = resources  # the memory the fit check sees (the machine's, or what tests inject)

    def options(self, header: GGUFHeader | None, resources: Resources | None = None) -> LoadOptions:
        """The config's load settings for a model with this header (n_gpu_layers -2, auto, resolved)."""
        return load_options(self.config, header, resources or self.resources())

    def load(self, ref: ModelRef, confirmed: bool = False) -> None:
        """Load `ref` in the "load" worker group (a newer load replaces one not started); `confirmed`: load it even
        when the fit estimate says it does not fit."""
        self.run_worker(
            lambda: self._load(ref, confirmed), name=f"load {ref.name}", group="load", exclusive=True, thread=True
        )

    # -- in the worker's thread: only messages go out ------------------------------------------------------------
    def _load(self, ref: ModelRef, confirmed: bool) -> None:
        try:
            ready = self._open_remote(ref) if ref.is_remote else self._open_local(ref, confirmed)
        except EngineError as exc:
            self.post_message(ModelLoadFailed(str(ref), str(exc)))
        except Exception as exc:  # never a traceback in the UI
            self.post_message(ModelLoadFailed(str(ref), f"{exc.__class__.__name__}: {exc}"))
        else:
            if ready is not None:
                self.post_message(ready)

    def _open_local(self, ref: ModelRef, confirmed: bool) -> ModelReady | None:
        plan = LoadPlan.for_file(ref, self.config, self.resources())
        if plan.needs_confirm and not confirmed:
            assert plan.estimate is not None
            self.post_message(LoadNeedsConfirm(ref.path, plan.estimate))
            return None
        engine, previous, gpu = self.local, self.engine, plan.options.n_gpu_layers
        vram0 = _vram_used() if gpu else 0
        info = engine.load(ref.path, plan.options)
        vram_delta = max(0, _vram_used() - vram0) if gpu else 0
        if previous is not engine:
            previous.unload()  # the remote engine's connections
        measured = info.rss_delta_bytes + vram_delta
        fit_line, note = plan.fit_line(measured), ""
        if fit_line:
            assert plan.estimate is not None
            record = (info.path, info.n_ctx, plan.estimate.total_needed, measured)
            if self.writes is not None:  # (a locked database: the load is not held up for it)
                self.writes.submit(lambda store: store.add_fit_measurement(*record))
            else:
                try:
                    self.store.add_fit_measurement(*record)
                except Exception as exc:
                    note = f"The fit measurement was not saved: {exc}"
        return ModelReady(info, engine, plan.estimate, fit_line, note)

    def _open_remote(self, ref: ModelRef) -> ModelReady:
        engine = make_engine(ref, self.config)  # an unknown endpoint: EngineError naming the configured ones
        info = engine.load(ref, LoadOptions())
        self.engine.unload()  # the local model's memory, or the previous endpoint's connections
        return ModelReady(info, engine)
