"""What deleting a catalog model removes, and when it is refused (loaded, bundled, Ollama's, a shared HF revision)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from edgetui.core.models.catalog import CatalogEntry
from edgetui.core.units import format_bytes

REMOTE_REFUSAL = "This is a remote endpoint, not a file: remove it from config.toml's [[endpoints]]."
LOADED_REFUSAL = "This model is loaded: load another one first."
DEFAULT_REFUSAL = "The bundled default model is never deleted (it ships with the app)."


def delete_refusal(entry: CatalogEntry, *, loaded: bool, default: Path | None = None) -> str:
    """Why this model's files must not be deleted ('' when they may be): `loaded` says it is the loaded model,
    `default` is the bundled default model's file."""
    if loaded:
        return LOADED_REFUSAL
    if entry.source == "default" or (default is not None and entry.realpath == os.path.realpath(default)):
        return DEFAULT_REFUSAL
    if entry.source == "ollama":
        return f"Ollama manages this file: remove it with `ollama rm {entry.name}`."
    return ""


@dataclass(frozen=True)
class DeletionPlan:
    """What a confirmed delete does: `question` asks the user (naming what goes), `run` deletes (blocking)."""

    question: str
    run: Callable[[], object]

    @classmethod
    def for_entry(cls, entry: CatalogEntry, environ: Mapping[str, str] | None = None) -> DeletionPlan | str:
        """The plan for a model's file(s), or why it is refused (blocking: the HF cache is scanned).

        Files in the Hugging Face cache go through huggingface_hub's cache API, which deletes whole revisions:
        allowed when the revision holds no other GGUF model, refused (with the command to use) otherwise."""
        files = entry.parts or [entry.path]
        if entry.source != "hf":
            listing = "\n".join(f"  {p}" for p in files)
            question = f"Delete {entry.name} ({format_bytes(entry.size)}) from disk?\n{listing}"
            return cls(question, lambda: _unlink(files))
        from huggingface_hub import scan_cache_dir

        from edgetui.core.models.sources import hf_cache_dir

        try:
            cache = scan_cache_dir(hf_cache_dir(os.environ if environ is None else environ))
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
                question = (
                    f"{entry.name} is in the Hugging Face cache (shared with other tools).\n"
                    f"Delete the cached revision {repo.repo_id}@{rev.commit_hash[:8]} "
                    f"({len(rev.files)} file(s), {format_bytes(strategy.expected_freed_size)})?"
                )
                return cls(question, strategy.execute)
        return f"{entry.name} is not in the Hugging Face cache any more: rescan (r)."


def _unlink(files: list[Path]) -> None:
    for p in files:
        p.unlink()
