"""make_engine: llama.cpp here or in a child process for a file, OpenAIEngine for an endpoint, clear errors."""

from __future__ import annotations

import pytest

from edgetui.config import Config, Endpoint
from edgetui.core.engines.factory import find_endpoint, make_engine
from edgetui.core.engines.llama import LlamaEngine
from edgetui.core.engines.process import ProcessEngine
from edgetui.core.engines.remote import OpenAIEngine
from edgetui.core.models.ref import ModelRef
from edgetui.core.types import EngineError

BOX = Endpoint(name="box", base_url="http://127.0.0.1:9/v1", model="m")
LAB = Endpoint(name="lab", base_url="http://127.0.0.1:9/v1")
LOCAL = ModelRef.local("/models/m.gguf")


def test_a_local_model_runs_in_this_process_or_in_a_child_one() -> None:
    assert type(make_engine(LOCAL, Config())) is LlamaEngine
    assert type(make_engine(None, Config())) is LlamaEngine
    child = make_engine(LOCAL, Config(engine_process=True))
    assert isinstance(child, ProcessEngine) and child.pid is None  # nothing started before a load


def test_a_remote_model_gets_its_endpoint() -> None:
    config = Config(endpoints=(BOX, LAB), engine_process=True)
    engine = make_engine(ModelRef.parse("openai:lab/other"), config)
    assert isinstance(engine, OpenAIEngine) and engine.endpoint is LAB and engine.info is None
    assert find_endpoint(ModelRef.remote("box"), config.endpoints) is BOX


def test_an_unknown_endpoint_names_the_configured_ones() -> None:
    said = r"No endpoint named 'gone' for openai:gone/m: .*\(configured: 'box', 'lab'\)"
    with pytest.raises(EngineError, match=said):
        make_engine(ModelRef.remote("gone", "m"), Config(endpoints=(BOX, LAB)))
    with pytest.raises(EngineError, match=r"\[\[endpoints\]\] \(configured: none\)"):
        make_engine(ModelRef.remote("gone"), Config())
