"""The deletion plan without the UI: what a delete removes, what it asks, and when it is refused."""

from __future__ import annotations

import os
from pathlib import Path

from edgetui.core.models.catalog import CatalogEntry
from edgetui.core.models.delete_plan import DEFAULT_REFUSAL, LOADED_REFUSAL, DeletionPlan, delete_refusal
from edgetui.paths import Paths
from tests.core.test_catalog import _fake_hf_cache, by_name, scan, tiny_model


def _entry(paths: Paths, name: str = "m.Q8_0.gguf") -> CatalogEntry:
    (paths.models_dir / name).write_bytes(tiny_model())
    return next(e for e in scan(paths).entries if e.path.name == name)


def test_a_file_of_the_models_dir_is_listed_then_deleted() -> None:
    paths = Paths.from_env().ensure()
    entry = _entry(paths)
    plan = DeletionPlan.for_entry(entry)
    assert isinstance(plan, DeletionPlan)
    assert plan.question.startswith(f"Delete {entry.name} (") and f"\n  {entry.path}" in plan.question
    assert entry.path.exists()
    plan.run()
    assert not entry.path.exists()


def test_refusals_loaded_bundled_and_ollama() -> None:
    paths = Paths.from_env().ensure()
    entry = _entry(paths)
    assert delete_refusal(entry, loaded=False) == ""
    assert delete_refusal(entry, loaded=True) == LOADED_REFUSAL
    assert delete_refusal(entry, loaded=False, default=entry.path) == DEFAULT_REFUSAL  # the bundled file itself
    bundled = CatalogEntry(entry.path, entry.name, "default", realpath=entry.realpath)
    assert delete_refusal(bundled, loaded=False) == DEFAULT_REFUSAL
    ollama = CatalogEntry(entry.path, "llama3:8b", "ollama", realpath=entry.realpath)
    assert delete_refusal(ollama, loaded=False) == "Ollama manages this file: remove it with `ollama rm llama3:8b`."


def test_a_hugging_face_revision_is_deleted_whole_when_it_holds_this_model_only() -> None:
    paths = Paths.from_env().ensure()
    hub = Path(os.environ["HF_HUB_CACHE"])
    _fake_hf_cache(hub, "org/Tiny-GGUF", {"tiny-q8_0.gguf": tiny_model(), "README.md": b"hi"})
    entry = by_name(scan(paths))["org/Tiny-GGUF/tiny-q8_0.gguf"]
    plan = DeletionPlan.for_entry(entry)
    assert isinstance(plan, DeletionPlan)
    assert "Hugging Face cache" in plan.question and "org/Tiny-GGUF@01234567 (2 file(s)" in plan.question
    plan.run()
    assert not list(hub.rglob("*.gguf")) and not list((hub / "models--org--Tiny-GGUF").rglob("blobs/*"))
    assert DeletionPlan.for_entry(entry) == f"{entry.name} is not in the Hugging Face cache any more: rescan (r)."


def test_a_hugging_face_revision_shared_with_another_model_is_refused() -> None:
    paths = Paths.from_env().ensure()
    hub = Path(os.environ["HF_HUB_CACHE"])
    files = {"tiny-q8_0.gguf": tiny_model(), "tiny-q4_0.gguf": tiny_model(name="Tiny4", ftype=2)}
    _fake_hf_cache(hub, "org/Tiny-GGUF", files)
    entry = by_name(scan(paths))["org/Tiny-GGUF/tiny-q8_0.gguf"]
    refusal = DeletionPlan.for_entry(entry)
    assert isinstance(refusal, str) and "shares its Hugging Face cache revision" in refusal
    assert "tiny-q4_0.gguf" in refusal and "`hf cache delete`" in refusal
    assert all(p.exists() for p in hub.rglob("*.gguf"))
