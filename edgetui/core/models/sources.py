"""Where GGUF models live on this machine: model directories, the Hugging Face cache, Ollama's manifests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

MAX_DEPTH = 6  # directory levels walked below each models directory
OLLAMA_MODEL_MEDIA = "application/vnd.ollama.image.model"


def hf_cache_dir(environ: Mapping[str, str]) -> Path:
    """huggingface_hub's cache: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if environ.get(key):
            return Path(environ[key]).expanduser()
    if environ.get("HF_HOME"):
        return Path(environ["HF_HOME"]).expanduser() / "hub"
    xdg = environ.get("XDG_CACHE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def walk_gguf(root: Path, skipped: list[tuple[str, str]], max_depth: int = MAX_DEPTH) -> Iterator[Path]:
    """GGUF files under `root`, following directory symlinks once each (no loops); hidden dirs skipped."""
    visited: set[str] = set()
    stack = [(root, 0)]
    while stack:
        d, depth = stack.pop()
        real = os.path.realpath(d)
        if real in visited:
            continue
        visited.add(real)
        try:
            with os.scandir(d) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if d != root or root.exists():
                skipped.append((str(d), f"cannot list: {exc.strerror or exc}"))
            continue
        for e in items:
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if e.name.lower().endswith(".gguf"):
                if is_dir:
                    skipped.append((e.path, "is a directory, not a GGUF file"))
                else:
                    yield Path(e.path)
            elif is_dir and not e.name.startswith(".") and depth < max_depth:
                stack.append((Path(e.path), depth + 1))


def hf_candidates(cache: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
    """(snapshot path, 'org/repo/file') of every GGUF file in the HF cache (huggingface_hub's scanner)."""
    if not cache.is_dir():
        return
    try:
        from huggingface_hub import scan_cache_dir

        info = scan_cache_dir(cache)
    except Exception as exc:  # CacheNotFound, a corrupt cache, or no huggingface_hub at all
        skipped.append((str(cache), f"cannot scan the Hugging Face cache: {exc}"))
        return
    for repo in sorted(info.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            for f in sorted(rev.files, key=lambda f: str(f.file_path)):
                if f.file_name.lower().endswith(".gguf"):
                    rel = Path(f.file_path).relative_to(rev.snapshot_path).as_posix()
                    yield Path(f.file_path), f"{repo.repo_id}/{rel}"


def ollama_candidates(root: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[Path, str]]:
    """(blob path, 'model:tag') from Ollama's manifests/<registry>/<namespace>/<model>/<tag> files."""
    manifests = root / "manifests"
    if not manifests.is_dir():
        return
    found = [p for p in manifests.glob("*/*/*/*") if p.is_file()]
    for mf in sorted(found, key=lambda p: (p.relative_to(manifests).parts[0] != "registry.ollama.ai", p)):
        registry, namespace, model, tag = mf.relative_to(manifests).parts
        label = f"{model}:{tag}" if namespace == "library" else f"{namespace}/{model}:{tag}"
        if registry != "registry.ollama.ai":
            label = f"{registry}/{label}"
        try:
            data = json.loads(mf.read_text(encoding="utf-8"))
            model = [layer for layer in data["layers"] if layer.get("mediaType") == OLLAMA_MODEL_MEDIA]
            algo, _, hexdigest = str(model[0]["digest"]).partition(":")
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            skipped.append((str(mf), f"Ollama manifest of {label} is unreadable or has no model layer"))
            continue
        yield root / "blobs" / f"{algo}-{hexdigest}", label
