"""ModelRef: parsing a model's text, the stored `openai:` format kept as it was, equality of one file's aliases."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from edgetui.core.models.ref import ModelRef


@pytest.mark.parametrize(
    ("text", "endpoint", "model", "name"),
    [
        ("openai:fake/fake-model", "fake", "fake-model", "fake/fake-model"),
        ("openai:srv", "srv", "", "srv"),  # the endpoint's own model
        ("openai:hf/org%2Fmodel:Q4_K_M", "hf", "org/model:Q4_K_M", "hf/org/model:Q4_K_M"),
        ("openai:ollama/llama3:8b", "ollama", "llama3:8b", "ollama/llama3:8b"),
        ("openai:gpu box/m%20x", "gpu box", "m x", "gpu box/m x"),
    ],
)
def test_stored_texts_parse_and_read_back_the_same(text: str, endpoint: str, model: str, name: str) -> None:
    ref = ModelRef.parse(text)
    assert ref.is_remote and (ref.endpoint, ref.model, ref.name) == (endpoint, model, name)
    assert str(ref) == text  # sessions, app state and config.toml keep this text: no migration
    assert ModelRef.parse(str(ref)) == ref == ModelRef.remote(endpoint, model)


def test_remote_texts_keep_what_a_path_would_fold() -> None:
    ref = ModelRef.remote("srv", "a//b/")
    assert str(ref) == "openai:srv/a%2F%2Fb%2F" and ModelRef.parse(str(ref)).model == "a//b/"
    assert ModelRef.parse("openai:srv/") == ModelRef.remote("srv")  # a trailing slash: the endpoint's own model
    assert ModelRef.parse("openai:x/org/model").model == "org/model"  # typed without the encoding
    odd = ModelRef.remote("a/b%c", "m")  # the endpoint name's own "/" and "%" are encoded
    assert str(odd) == "openai:a%2Fb%25c/m" and ModelRef.parse(str(odd)) == odd
    assert ModelRef.parse(Path("openai:fake/fake-model")) == ModelRef.remote("fake", "fake-model")


def test_a_local_file_and_its_aliases_are_one_ref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "models" / "m.Q4_K_M.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    link = tmp_path / "link.gguf"
    link.symlink_to(model)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    ref = ModelRef.parse(str(model))
    assert not ref.is_remote and ref.path == model and ref.name == "m.Q4_K_M.gguf" and str(ref) == str(model)
    aliases = [ModelRef.parse("models/m.Q4_K_M.gguf"), ModelRef.parse("~/models/m.Q4_K_M.gguf"),
               ModelRef.parse(link), ModelRef.local(model)]  # fmt: skip
    assert all(a == ref and hash(a) == hash(ref) for a in aliases)
    assert len({ref, *aliases}) == 1
    assert ModelRef.parse("~/models/m.Q4_K_M.gguf").path == model  # ~ expanded
    assert ref != ModelRef.parse(tmp_path / "other.gguf")


def test_local_and_remote_never_equal_and_a_remote_has_no_file() -> None:
    remote = ModelRef.remote("fake", "fake-model")
    assert remote != ModelRef.local("/openai:fake/fake-model") and remote != ModelRef.remote("fake", "other")
    assert remote != "openai:fake/fake-model"  # a ref equals refs only
    with pytest.raises(ValueError, match="openai:fake/fake-model is a remote model: it has no file"):
        _ = remote.path


def test_parse_takes_a_ref_as_is_and_refuses_nothing() -> None:
    ref = ModelRef.remote("x", "m")
    assert ModelRef.parse(ref) is ref
    with pytest.raises(ValueError, match="no model given"):
        ModelRef.parse("")


def test_refs_cross_threads_and_processes() -> None:
    for ref in (ModelRef.remote("fake", "a/b"), ModelRef.local("/models/m.gguf")):
        again = pickle.loads(pickle.dumps(ref))
        assert again == ref and str(again) == str(ref)
