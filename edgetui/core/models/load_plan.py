"""How a model is to be loaded: the load options from the settings, the fit check, what can be loaded at all."""

from __future__ import annotations

from dataclasses import dataclass

from edgetui.config import Config
from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.models.fit import NO_FIT, FitEstimate, Resources, estimate_fit, n_gpu_layers_auto, relative_error
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import LoadOptions
from edgetui.core.units import format_bytes


def fit_text(predicted: int, measured: int) -> str:
    """'fit: predicted 130 MiB, measured 118 MiB (+10%)': the estimate against the RSS growth of a load."""
    err = relative_error(predicted, measured)
    pct = f"{err * 100:+.0f}%" if measured else "n/a"
    return f"fit: predicted {format_bytes(predicted)}, measured {format_bytes(measured)} ({pct})"


def load_options(config: Config, header: GGUFHeader | None, resources: Resources) -> LoadOptions:
    """The config's load settings, n_gpu_layers -2 (auto) resolved with the fit estimate (0 without a header)."""
    gpu = config.n_gpu_layers
    if gpu == -2:
        gpu = n_gpu_layers_auto(header, config.n_ctx, resources.vram_free) if header is not None else 0
    return LoadOptions(n_ctx=config.n_ctx, n_threads=config.threads, n_gpu_layers=gpu)


def loadable(ref: ModelRef, config: Config) -> bool:
    """Whether `ref` can still be loaded: its file is there, or its endpoint is configured."""
    if ref.is_remote:
        return any(ep.name == ref.endpoint for ep in config.endpoints)
    return ref.path.is_file()


@dataclass(frozen=True)
class LoadPlan:
    """Loading a local model file: with which options, and what the fit estimate says (None: no readable header,
    the engine then explains what is wrong with the file)."""

    ref: ModelRef
    options: LoadOptions
    estimate: FitEstimate | None = None

    @classmethod
    def for_file(cls, ref: ModelRef, config: Config, resources: Resources) -> LoadPlan:
        """Read the file's header (the blocking part) and decide the options and the fit."""
        from edgetui.core.gguf.read import read_model

        try:
            header: GGUFHeader | None = read_model(ref.path)
        except (ValueError, OSError):  # GGUFError is a ValueError; the engine explains the file's problem
            header = None
        options = load_options(config, header, resources)
        estimate = estimate_fit(header, options.n_ctx, options.n_gpu_layers, resources) if header else None
        return cls(ref, options, estimate)

    @property
    def needs_confirm(self) -> bool:
        """The estimate says the model does not fit: the user is asked before it is loaded."""
        return self.estimate is not None and self.estimate.verdict == NO_FIT

    def fit_line(self, measured: int) -> str:
        """The prediction against what the load took (`measured` bytes of RSS and VRAM); '' when either is unknown."""
        if self.estimate is None or measured <= 0:
            return ""
        return fit_text(self.estimate.total_needed, measured)
