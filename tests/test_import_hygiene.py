"""edgetui.core never imports textual or rich, and `import edgetui` stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE_MODULES = ["edgetui.core.engines.llama", "edgetui.core.types", "edgetui.core.tools.quantize", "edgetui.config"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return set(out.split())


def test_core_never_imports_textual_or_rich() -> None:
    import pkgutil

    import edgetui.core

    names = [f"edgetui.core.{m.name}" for m in pkgutil.iter_modules(edgetui.core.__path__)]
    loaded = _modules_after("\n".join(f"import {n}" for n in names))
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "rich")}


@pytest.mark.parametrize("module", ["edgetui.cli", "edgetui.core.engines.llama"])
def test_heavy_libraries_are_imported_lazily(module: str) -> None:
    loaded = _modules_after(f"import {module}")
    assert "llama_cpp" not in loaded
    assert "huggingface_hub" not in loaded
