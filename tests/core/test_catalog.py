"""The model catalog: discovery in every store, split files, duplicates, broken files, cache, siblings, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from edgetui.cli import main
from edgetui.config import Config
from edgetui.core.gguf import cache as header_cache_mod
from edgetui.core.gguf.cache import HeaderCache
from edgetui.core.models import catalog as catalog_mod
from edgetui.core.models.catalog import (
    Catalog,
    filter_entries,
    format_bytes,
    format_params,
    sort_entries,
)
from edgetui.core.models.fit import Resources
from edgetui.paths import Paths
from tests.core.test_gguf import build_gguf


def tiny_model(name: str = "Tiny", ftype: int = 7, layers: int = 2, basename: str = "tiny") -> bytes:
    kvs = [("general.architecture", 8, "llama"), ("general.name", 8, name), ("general.basename", 8, basename),
           ("general.file_type", 4, ftype), ("llama.block_count", 4, layers), ("llama.context_length", 4, 512),
           ("llama.embedding_length", 4, 32), ("llama.attention.head_count", 4, 2)]  # fmt: skip
    tensors = [("token_embd.weight", [32, 8], 0)] + [(f"blk.{i}.w", [32, 32], 8) for i in range(layers)]
    return build_gguf(kvs, tensors)


@pytest.fixture
def paths() -> Paths:
    return Paths.from_env().ensure()


def scan(paths: Paths, include_default: bool = False, **config: Any) -> Catalog:
    config.setdefault("scan_lmstudio", False)
    cat = Catalog(paths, Config(**config), include_default=include_default)
    cat.scan()
    return cat


def by_name(cat: Catalog) -> dict[str, Any]:
    return {e.name: e for e in cat.entries}


def test_models_dir_and_config_dirs(paths: Paths, tmp_path: Path) -> None:
    (paths.models_dir / "sub").mkdir()
    (paths.models_dir / "sub" / "a.Q8_0.gguf").write_bytes(tiny_model())
    (paths.models_dir / "notes.txt").write_text("not a model")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "B.gguf").write_bytes(tiny_model("Bee", layers=3))
    cat = scan(paths, model_dirs=(str(extra),))
    names = by_name(cat)
    assert set(names) == {"a.Q8_0", "B"}
    assert names["a.Q8_0"].source == "models" and names["B"].source == "config"
    assert names["B"].header.block_count == 3 and names["a.Q8_0"].quant == "Q8_0"


def test_broken_files_never_crash_the_scan(paths: Paths) -> None:
    d = paths.models_dir
    (d / "empty.gguf").write_bytes(b"")
    (d / "trunc.gguf").write_bytes(tiny_model()[:100])
    (d / "text.gguf").write_text("hello")
    (d / "dir.gguf").mkdir()
    (d / "dangling.gguf").symlink_to(d / "gone.gguf")
    (d / "loop.gguf").symlink_to(d / "loop.gguf")
    (d / "good.gguf").write_bytes(tiny_model())
    cat = scan(paths)
    errors = {e.name: e.error for e in cat.entries}
    assert errors["good"] == ""
    assert "empty file" in errors["empty"]
    assert "truncated" in errors["trunc"]
    assert "not a GGUF file" in errors["text"]
    assert "dangling symlink" in errors["dangling"]
    assert "symlink loop" in errors["loop"]
    assert (str(d / "dir.gguf"), "is a directory, not a GGUF file") in cat.skipped
    rows = {e.name: e.row() for e in cat.entries}
    assert rows["empty"][5].startswith("error: ")
    assert [e.name for e in sort_entries(cat.entries, "size")][0] == "good"  # unreadable ones last


def test_duplicates_via_symlink_are_one_entry(paths: Paths) -> None:
    (paths.models_dir / "real.gguf").write_bytes(tiny_model())
    (paths.models_dir / "alias.gguf").symlink_to(paths.models_dir / "real.gguf")
    linked = paths.models_dir / "linked-dir"
    linked.symlink_to(paths.models_dir)  # a directory symlink loop too
    cat = scan(paths)
    assert len(cat.entries) == 1
    entry = cat.entries[0]
    assert entry.name == "alias"  # the first in name order
    assert entry.aliases == [str(paths.models_dir / "real.gguf")]
    assert cat.find(str(paths.models_dir / "real.gguf")) is entry


def test_split_model_is_one_entry(paths: Paths) -> None:
    for i in (1, 2):
        kvs = [("general.architecture", 8, "llama"), ("llama.block_count", 4, 2), ("split.count", 2, 2)]
        data = build_gguf(kvs, [(f"blk.{i - 1}.w", [32, 4], 8)])
        (paths.models_dir / f"Big-{i:05d}-of-00002.gguf").write_bytes(data)
    (paths.models_dir / "Half-00001-of-00002.gguf").write_bytes(tiny_model())
    cat = scan(paths)
    names = by_name(cat)
    assert set(names) == {"Big", "Half"}
    big = names["Big"]
    assert big.ok and len(big.parts) == 2 and big.header.n_params == 256
    assert big.size == sum(p.stat().st_size for p in big.parts)
    assert big.path.name == "Big-00001-of-00002.gguf"
    assert "missing part 2 of 2" in names["Half"].error


def _fake_hf_cache(root: Path, repo: str, files: dict[str, bytes]) -> None:
    """The layout huggingface_hub writes: blobs, refs/main, snapshots/<rev>/<file> -> ../../blobs/<hash>."""
    import hashlib

    base = root / f"models--{repo.replace('/', '--')}"
    rev = "0123456789abcdef0123456789abcdef01234567"
    (base / "blobs").mkdir(parents=True)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(rev)
    snap = base / "snapshots" / rev
    snap.mkdir(parents=True)
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (base / "blobs" / digest).write_bytes(data)
        (snap / name).symlink_to(Path("../..") / "blobs" / digest)


def test_hugging_face_cache(paths: Paths) -> None:
    hub = Path(os.environ["HF_HUB_CACHE"])
    _fake_hf_cache(hub, "org/Tiny-GGUF", {"tiny-q8_0.gguf": tiny_model(), "README.md": b"hi"})
    cat = scan(paths)
    assert [(e.name, e.source) for e in cat.entries] == [("org/Tiny-GGUF/tiny-q8_0.gguf", "hf")]
    assert cat.entries[0].ok and cat.entries[0].realpath.startswith(str(hub))
    assert "/blobs/" in cat.entries[0].realpath
    assert scan(paths, scan_hf_cache=False).entries == []


def test_ollama_store(paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ollama"
    (root / "blobs").mkdir(parents=True)
    digest = "ab" * 32
    (root / "blobs" / f"sha256-{digest}").write_bytes(tiny_model("Olla"))
    for registry, ns, model in (("registry.ollama.ai", "library", "tiny"), ("hf.co", "someone", "tiny2")):
        d = root / "manifests" / registry / ns / model
        d.mkdir(parents=True)
        manifest = {
            "layers": [
                {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:00"},
                {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}"},
            ]
        }
        (d / "latest").write_text(json.dumps(manifest))
    bad = root / "manifests" / "registry.ollama.ai" / "library" / "broken"
    bad.mkdir()
    (bad / "latest").write_text("{not json")
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    cat = scan(paths)
    assert [(e.name, e.source) for e in cat.entries] == [("tiny:latest", "ollama")]
    assert cat.entries[0].aliases == [str(root / "blobs" / f"sha256-{digest}")]  # same blob, second tag
    assert cat.entries[0].header.name == "Olla"
    assert any("broken:latest" in reason for _, reason in cat.skipped)


def test_lm_studio_dirs(paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    d = tmp_path / ".lmstudio" / "models" / "pub" / "repo"
    d.mkdir(parents=True)
    (d / "m.gguf").write_bytes(tiny_model())
    assert [(e.name, e.source) for e in scan(paths, scan_lmstudio=True).entries] == [("m", "lmstudio")]


@pytest.mark.engine
def test_default_model_and_siblings(paths: Paths, default_model: Path, quantized_models: dict[str, Path]) -> None:
    qdir = quantized_models["Q8_0"].parent
    (paths.models_dir / "other.gguf").write_bytes(tiny_model())
    cat = scan(paths, include_default=True, model_dirs=(str(qdir),))
    default = next(e for e in cat.entries if e.source == "default")
    assert default.header.n_params == 134_515_008 and default.quant == "Q4_1"
    sib = cat.siblings(default)
    assert [e.quant for e in sib] == ["Q2_K", "Q8_0"]  # smallest bits per weight first
    assert all(e.group == default.group for e in sib)
    assert cat.siblings(by_name(cat)["other"]) == []
    assert len(cat.groups()) == 2


def test_cache_makes_rescans_cheap_and_notices_changes(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(5):
        (paths.models_dir / f"m{i}.gguf").write_bytes(tiny_model(f"M{i}"))
    (paths.models_dir / "bad.gguf").write_bytes(b"nope")
    first = scan(paths)
    assert (paths.cache_dir / catalog_mod.CACHE_FILE).is_file()
    calls: list[Path] = []
    real_read = header_cache_mod.read_header

    def counting(path: Path) -> Any:
        calls.append(Path(path))
        return real_read(path)

    monkeypatch.setattr(header_cache_mod, "read_header", counting)
    second = scan(paths)
    assert calls == []  # every header (and the error) came from the cache
    assert [e.as_dict() for e in second.entries] == [e.as_dict() for e in first.entries]
    m2 = paths.models_dir / "m2.gguf"
    m2.write_bytes(tiny_model("Changed", layers=3))
    third = scan(paths)
    assert calls == [m2] and by_name(third)["m2"].header.name == "Changed"


def test_corrupt_cache_file_is_ignored(paths: Paths) -> None:
    (paths.models_dir / "m.gguf").write_bytes(tiny_model())
    paths.cache_dir.mkdir(parents=True, exist_ok=True)
    (paths.cache_dir / catalog_mod.CACHE_FILE).write_text("[1, 2")
    assert scan(paths).entries[0].ok
    cache = HeaderCache(paths.cache_dir / catalog_mod.CACHE_FILE)
    assert len(cache.records) == 1


def test_cancel_and_progress(paths: Paths) -> None:
    for i in range(3):
        (paths.models_dir / f"m{i}.gguf").write_bytes(tiny_model())
    cancel = threading.Event()
    seen: list[tuple[int, int]] = []

    def progress(done: int, total: int, path: str) -> None:
        seen.append((done, total))
        if done == 1:
            cancel.set()

    cat = Catalog(paths, Config(scan_lmstudio=False), include_default=False)
    entries = cat.scan(cancel=cancel, progress=progress)
    assert cat.cancelled and len(entries) == 2 and seen[:2] == [(0, 3), (1, 3)]


def test_sort_filter_and_format(paths: Paths) -> None:
    (paths.models_dir / "small.gguf").write_bytes(tiny_model("Small", ftype=2, layers=1))
    (paths.models_dir / "big.gguf").write_bytes(tiny_model("Big", ftype=7, layers=4))
    (paths.models_dir / "broken.gguf").write_bytes(b"GGUF")
    cat = scan(paths)
    res = Resources(ram_available=1 << 40, ram_total=1 << 40)
    cat.annotate_fit(512, res)
    assert [e.name for e in sort_entries(cat.entries, "params")] == ["small", "big", "broken"]
    assert [e.name for e in sort_entries(cat.entries, "params", reverse=True)] == ["big", "small", "broken"]
    assert [e.name for e in sort_entries(cat.entries, "name")] == ["big", "small", "broken"]
    for key in catalog_mod.SORT_KEYS:
        assert len(sort_entries(cat.entries, key)) == 3
    with pytest.raises(ValueError):
        sort_entries(cat.entries, "colour")
    assert [e.name for e in filter_entries(cat.entries, "SMA")] == ["small"]
    assert [e.name for e in filter_entries(cat.entries, quant="q8_0")] == ["big"]
    assert len(filter_entries(cat.entries, fits=True)) == 2
    assert len(filter_entries(cat.entries, errors=False)) == 2
    assert by_name(cat)["big"].fit.verdict == "fits" and by_name(cat)["big"].row()[5] == "fits"
    assert format_params(134_515_008) == "135M" and format_params(7_241_732_096) == "7.2B"
    assert format_bytes(98_362_432) == "93.8 MiB" and format_bytes(512) == "512 B"


def test_catalog_imports_no_heavy_libraries() -> None:
    code = "import sys, edgetui.core.models.catalog; print(sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "huggingface_hub" not in out and "llama_cpp" not in out and "psutil" not in out


@pytest.mark.engine
def test_cli_models_json(paths: Paths, capsys: pytest.CaptureFixture[str], default_model: Path) -> None:
    (paths.models_dir / "bad.gguf").write_bytes(b"junk")
    shutil.copy(default_model, paths.models_dir / "copy.gguf")
    assert main(["models", "--json", "--ctx", "1024"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_ctx"] == 1024
    rows = {m["name"]: m for m in data["models"]}
    assert rows["copy"]["n_params"] == 134_515_008 and rows["copy"]["fit"] in ("fits", "tight", "does not fit")
    assert "not a GGUF file" in rows["bad"]["error"]
    assert rows["SmolLM2-135M-Instruct.Q4_1"]["source"] == "default"
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "Name" in out and "copy" in out and "error: bad.gguf: not a GGUF file" in out
    assert "93.8 MiB" in out  # the default model's 98,362,432 bytes
