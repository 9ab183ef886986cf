"""The loading plan without the UI: load options from the settings, the fit check, what can still be loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgetui.config import Config, Endpoint
from edgetui.core.gguf.read import read_model
from edgetui.core.models.fit import FITS, NO_FIT, Resources
from edgetui.core.models.load_plan import LoadPlan, fit_text, load_options, loadable
from edgetui.core.models.ref import ModelRef
from tests.core.test_catalog import tiny_model

MIB = 1 << 20
CPU_ONLY = Resources(ram_available=8 << 30, ram_total=16 << 30)
BIG_GPU = Resources(ram_available=8 << 30, ram_total=16 << 30, vram_free=24 << 30, vram_total=24 << 30)
TINY_RAM = Resources(ram_available=1 << 10, ram_total=1 << 20)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.Q8_0.gguf"
    path.write_bytes(tiny_model(layers=3))
    return path


def test_auto_gpu_layers_are_all_with_room_and_none_without_a_gpu_or_a_header(tiny: Path) -> None:
    header = read_model(tiny)
    auto = Config(n_ctx=256, n_threads=2, n_gpu_layers=-2)
    assert load_options(auto, header, CPU_ONLY).n_gpu_layers == 0
    assert load_options(auto, header, BIG_GPU).n_gpu_layers == header.block_count + 1 == 4
    assert load_options(auto, None, BIG_GPU).n_gpu_layers == 0  # an unreadable header: nothing offloaded
    options = load_options(Config(n_ctx=256, n_threads=3, n_gpu_layers=-1), header, CPU_ONLY)
    assert (options.n_ctx, options.n_threads, options.n_gpu_layers) == (256, 3, -1)  # as configured


def test_a_plan_checks_the_fit_and_asks_only_when_it_does_not(tiny: Path) -> None:
    config = Config(n_ctx=256, n_threads=2, n_gpu_layers=0)
    plan = LoadPlan.for_file(ModelRef.local(tiny), config, CPU_ONLY)
    assert plan.estimate is not None and plan.estimate.verdict == FITS and not plan.needs_confirm
    assert plan.options.n_ctx == 256 and plan.ref == ModelRef.local(tiny)
    tight = LoadPlan.for_file(ModelRef.local(tiny), config, TINY_RAM)
    assert tight.estimate is not None and tight.estimate.verdict == NO_FIT and tight.needs_confirm


def test_an_unreadable_file_is_left_to_the_engine_to_explain(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a gguf file")
    for path in (broken, tmp_path / "missing.gguf"):
        plan = LoadPlan.for_file(ModelRef.local(path), Config(n_gpu_layers=-2), BIG_GPU)
        assert plan.estimate is None and not plan.needs_confirm and plan.options.n_gpu_layers == 0
        assert plan.fit_line(100 * MIB) == ""


def test_the_fit_line_compares_the_prediction_with_what_the_load_took(tiny: Path) -> None:
    plan = LoadPlan.for_file(ModelRef.local(tiny), Config(n_ctx=256, n_gpu_layers=0), CPU_ONLY)
    assert plan.estimate is not None
    assert plan.fit_line(0) == ""  # nothing measured: nothing to say
    assert plan.fit_line(plan.estimate.total_needed) == fit_text(plan.estimate.total_needed, plan.estimate.total_needed)
    assert fit_text(130 * MIB, 118 * MIB) == "fit: predicted 130 MiB, measured 118 MiB (+10%)"
    assert fit_text(130 * MIB, 0).endswith("(n/a)")


def test_loadable_means_the_file_is_there_or_the_endpoint_configured(tiny: Path) -> None:
    config = Config(endpoints=(Endpoint(name="box", base_url="http://127.0.0.1:9/v1"),))
    assert loadable(ModelRef.local(tiny), config)
    assert not loadable(ModelRef.local(tiny.parent / "gone.gguf"), config)
    assert not loadable(ModelRef.local(tiny.parent), config)  # a directory is not a model
    assert loadable(ModelRef.parse("openai:box/any-model"), config) and loadable(ModelRef.remote("box"), config)
    assert not loadable(ModelRef.remote("elsewhere", "m"), config)
