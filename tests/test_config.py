"""config.toml and EDGETUI_* checked at start-up: every key with a wrong value is one line naming the key, where it
is and what it must be; never a traceback from any command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgetui.config import Config, ConfigError, Endpoint, sampler_from
from edgetui.core.types import SamplerSettings
from edgetui.paths import Paths

GOOD_ENDPOINT = '[[endpoints]]\nname = "box"\nbase_url = "http://127.0.0.1:8080/v1"\n'

# (the file, the key as the message names it, words the message must hold)
BAD = [
    ("model = 5\n", "model", "text in quotes"),
    ("n_ctx = true\n", "n_ctx", "a whole number, not true"),
    ("n_ctx = -1\n", "n_ctx", "at least 1, not -1"),
    ("n_ctx = 0\n", "n_ctx", "at least 1, not 0"),
    ("n_ctx = 4096.5\n", "n_ctx", "a whole number"),
    ('n_threads = "4"\n', "n_threads", "a whole number, not '4'"),
    ("n_gpu_layers = -3\n", "n_gpu_layers", "at least -2"),
    ('model_dirs = "/srv/models"\n', "model_dirs", 'a list, like ["/srv/models"]'),
    ("model_dirs = [1, 2]\n", "model_dirs[0]", "text in quotes"),
    ('system_prompt = ["be terse"]\n', "system_prompt", "text in quotes"),
    ("db = false\n", "db", "text in quotes"),
    ('low_redraw = "yes"\n', "low_redraw", "true or false, not 'yes'"),
    ("engine_process = 1\n", "engine_process", "true or false, not 1"),
    ('scan_hf_cache = "no"\n', "scan_hf_cache", "true or false"),
    ("scan_ollama = 0\n", "scan_ollama", "true or false"),
    ("scan_lmstudio = []\n", "scan_lmstudio", "true or false"),
    ('sampler = "fast"\n', "sampler", "a table, not 'fast'"),
    ('[sampler]\ntemperature = "hot"\n', "sampler.temperature", "a number, not 'hot'"),
    ("[sampler]\ntemperature = -0.5\n", "sampler.temperature", "at least 0"),
    ("[sampler]\ntop_p = 1.5\n", "sampler.top_p", "at most 1"),
    ("[sampler]\ntop_k = 2.5\n", "sampler.top_k", "a whole number"),
    ("[sampler]\nmin_p = -1\n", "sampler.min_p", "at least 0"),
    ("[sampler]\nrepeat_penalty = 0\n", "sampler.repeat_penalty", "more than 0"),
    ("[sampler]\nseed = -2\n", "sampler.seed", "at least -1"),
    ("[sampler]\nmax_tokens = 0\n", "sampler.max_tokens", "at least 1"),
    ('[endpoints]\nname = "box"\n', "endpoints", "a list of [[endpoints]] tables"),
    ("endpoints = 5\n", "endpoints", "a list of [[endpoints]] tables"),
    ('[[endpoints]]\nbase_url = "http://x/v1"\n', "endpoints[0].name", "set (it is required)"),
    ('[[endpoints]]\nname = ""\nbase_url = "http://x/v1"\n', "endpoints[0].name", "not empty"),
    ('[[endpoints]]\nname = "box"\n', "endpoints[0].base_url", "set (it is required)"),
    ('[[endpoints]]\nname = "box"\nbase_url = "gpubox:8080"\n', "endpoints[0].base_url", "http:// or https://"),
    (GOOD_ENDPOINT + "model = 7\n", "endpoints[0].model", "text in quotes"),
    (GOOD_ENDPOINT + "api_key_env = true\n", "endpoints[0].api_key_env", "text in quotes"),
    (GOOD_ENDPOINT + "\n" + GOOD_ENDPOINT + 'timeout_s = "x"\n', "endpoints[1].timeout_s", "a number, not 'x'"),
    (GOOD_ENDPOINT + "timeout_s = 0\n", "endpoints[0].timeout_s", "more than 0"),
]


def _paths(tmp_path: Path, text: str) -> Paths:
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    return Paths(tmp_path, tmp_path, tmp_path / "cache")


def _line(text: str, key: str) -> int:
    """The line a test file sets `key` on (its last part), or its table's header."""
    last = key.split(".")[-1].split("[")[0]
    lines = text.splitlines()
    for i, line in enumerate(lines, start=1):
        if line.startswith(f"{last} ="):
            hits = [j for j, ln in enumerate(lines, start=1) if ln.startswith(f"{last} =")]
            return hits[-1] if "[1]" in key else i
    return next(i for i, line in enumerate(lines, start=1) if line.startswith("["))


@pytest.mark.parametrize(("text", "key", "expected"), BAD, ids=[b[1] + ":" + b[0][:20] for b in BAD])
def test_every_key_with_a_wrong_value_is_one_line_naming_it(tmp_path: Path, text: str, key: str, expected: str):
    with pytest.raises(ConfigError) as exc:
        Config.load(_paths(tmp_path, text), environ={})
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'config.toml'}, line {_line(text, key)}: {key} must be "), message
    assert expected in message, message


def test_every_key_of_the_schema_has_a_bad_value_above() -> None:
    from dataclasses import fields

    keys = {b[1].split("[")[0].split(".")[0] for b in BAD}
    tested = {b[1] for b in BAD}
    assert {f.name for f in fields(Config)} - {"unknown", "notes"} <= keys
    assert {f"sampler.{f.name}" for f in fields(SamplerSettings)} <= tested
    for f in fields(Endpoint):
        assert any(t.startswith("endpoints[") and t.endswith(f".{f.name}") for t in tested), f.name


def test_a_file_that_is_not_toml_or_not_utf8_says_where(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML: .*line 1"):
        Config.load(_paths(tmp_path, "n_ctx = \n"), environ={})
    (tmp_path / "config.toml").write_bytes(b"n_ctx = 1\nsystem_prompt = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        Config.load(Paths(tmp_path, tmp_path, tmp_path), environ={})


def test_good_values_load_and_unknown_keys_are_left_out_and_named(tmp_path: Path) -> None:
    text = 'n_ctx = 8192\nn_ctxx = 2\nmodel_dirs = ["/srv/models"]\n[sampler]\ntemperature = 0\ntemp = 1\n'
    config = Config.load(_paths(tmp_path, text + GOOD_ENDPOINT + "gpu = true\n"), environ={})
    assert config.n_ctx == 8192 and config.model_dirs == ("/srv/models",) and config.sampler.temperature == 0.0
    assert config.endpoints == (Endpoint(name="box", base_url="http://127.0.0.1:8080/v1"),)
    assert config.unknown == ("n_ctxx", "sampler.temp", "endpoints[0].gpu")


def test_environment_variables_are_checked_and_named(tmp_path: Path) -> None:
    paths = _paths(tmp_path, "")
    assert Config.load(paths, environ={"EDGETUI_N_CTX": "2048", "EDGETUI_LOW_REDRAW": "1"}).n_ctx == 2048
    for env, words in (
        ({"EDGETUI_N_CTX": "big"}, "EDGETUI_N_CTX must be a whole number, not 'big'"),
        ({"EDGETUI_N_CTX": "-4"}, "EDGETUI_N_CTX: n_ctx must be at least 1, not -4"),
        ({"EDGETUI_LOW_REDRAW": "maybe"}, "EDGETUI_LOW_REDRAW must be 1 or 0"),
    ):
        with pytest.raises(ConfigError) as exc:
            Config.load(paths, environ=env)
        assert str(exc.value) == words or str(exc.value).startswith(words), str(exc.value)


def test_the_settings_dialog_checks_by_the_same_rules() -> None:
    assert sampler_from({"temperature": 0.2}).temperature == 0.2
    with pytest.raises(ValueError, match=r"top_p must be at most 1\.0, not 1\.5"):
        sampler_from({"top_p": 1.5})
    with pytest.raises(ValueError, match="top_k must be a whole number, not 'abc'"):
        sampler_from({"top_k": "abc"})


@pytest.mark.parametrize("command", [["models"], ["sessions"], ["fit", "x.gguf"], ["export", "last"], []])
def test_no_command_prints_a_traceback_for_a_bad_config(edgetui_home: Path, command: list[str]) -> None:
    (edgetui_home / "config.toml").write_text("[endpoints]\nname = 'x'\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "edgetui", *command], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    assert run.returncode != 0
    assert "Traceback" not in run.stderr + run.stdout
    lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    assert len(lines) == 1 and "endpoints must be a list of [[endpoints]] tables" in lines[0], lines


# -- numbers given on the command line ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--ctx", "0", "models"], "edgetui: --ctx must be at least 1, not 0"),
        (["--ctx", "0", "serve"], "edgetui: --ctx must be at least 1, not 0"),
        (["--threads", "-3", "bench"], "edgetui: --threads must be at least 0, not -3"),
        (["bench", "-t", "-3"], "edgetui: --threads must be at least 0, not -3"),
        (["quantize", "x.gguf", "Q4_0", "--threads", "-1"], "edgetui: --threads must be at least 0, not -1"),
        ([], "edgetui: bad configuration: --ctx must be at least 1, not 0"),  # (the full-screen app: never started)
    ],
)
def test_a_wrong_number_on_the_command_line_is_one_line_naming_the_flag(
    edgetui_home: Path, flags: list[str], said: str
) -> None:
    argv = flags if flags else ["--ctx", "0"]
    run = subprocess.run([sys.executable, "-m", "edgetui", *argv], capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)  # fmt: skip
    lines = [line for line in (run.stderr + run.stdout).splitlines() if line.strip()]
    assert run.returncode != 0 and lines == [said]


def test_more_threads_than_cpus_are_brought_down_to_them_and_said_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    config = Config.load(_paths(tmp_path, ""), environ={}, n_threads=1000)
    assert config.n_threads == 2 and config.threads == 2
    assert config.notes == ("--threads 1000 is more than the 2 CPU(s) this machine gives edgetui: 2 are used",)
    from_file = Config.load(_paths(tmp_path, "n_threads = 64\n"), environ={})
    assert from_file.n_threads == 2 and from_file.notes[0].startswith(f"n_threads 64 ({tmp_path / 'config.toml'})")
    assert Config.load(_paths(tmp_path, "n_threads = 2\n"), environ={}).notes == ()  # (as many as there are: fine)
    from_env = Config.load(_paths(tmp_path, ""), environ={"EDGETUI_N_THREADS": "9"})
    assert from_env.notes[0].startswith("n_threads 9 (EDGETUI_N_THREADS)")


def test_the_cpu_clamp_is_said_on_stderr_by_a_command(edgetui_home: Path) -> None:
    import os

    run = subprocess.run([sys.executable, "-m", "edgetui", "--threads", "100000", "bench", "-p", "0", "-n", "0"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)  # fmt: skip
    cpus = len(os.sched_getaffinity(0))
    assert f"edgetui: warning: --threads 100000 is more than the {cpus} CPU(s)" in run.stderr
    assert "nothing to measure" in run.stderr and "Traceback" not in run.stderr


# -- fuzz: whatever the file holds, one ConfigError or a Config, never another exception --------------------------
_KEYS = ["model", "n_ctx", "n_threads", "n_gpu_layers", "model_dirs", "system_prompt", "db", "low_redraw",
         "engine_process", "scan_hf_cache", "scan_ollama", "scan_lmstudio", "sampler", "endpoints", "temperature",
         "name", "base_url"]  # fmt: skip


def _toml_value(draw_value: object) -> str:
    import json

    if isinstance(draw_value, bool):
        return "true" if draw_value else "false"
    if isinstance(draw_value, int | float):
        return repr(draw_value) if draw_value == draw_value and abs(draw_value) != float("inf") else "nan"
    if isinstance(draw_value, list):
        return "[" + ", ".join(_toml_value(v) for v in draw_value) + "]"
    return json.dumps(str(draw_value))


def _fuzz_values():
    from hypothesis import strategies as st

    scalar = st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=30)
    return scalar | st.lists(scalar, max_size=3)


def _fuzz_files():
    from hypothesis import strategies as st

    line = st.tuples(st.sampled_from(_KEYS), _fuzz_values()).map(lambda kv: f"{kv[0]} = {_toml_value(kv[1])}")
    table = st.sampled_from(["[sampler]", "[[endpoints]]", "[endpoints]", "[model]"])
    return st.lists(line | table | st.text(max_size=40), max_size=8).map("\n".join)


def test_any_config_file_gives_a_config_or_one_line_error(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings

    @given(_fuzz_files())
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    def check(text: str) -> None:
        try:
            Config.load(_paths(tmp_path, text), environ={})
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc).strip() and "Traceback" not in str(exc)

    check()
