"""Pilot tests of the compare screen: two real quantizations side by side, agreement, memory, quality, Escape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgetui.config import Endpoint
from edgetui.core.compare.compare import CONCURRENT, SWAP, compare_to_record
from edgetui.core.types import LoadOptions, StopReason
from edgetui.ui.compare.compare_column import divergence_text
from edgetui.ui.compare.compare_messages import CompareTurnDone
from edgetui.ui.compare.compare_screen import CompareScreen
from edgetui.ui.compare.model_picker import ModelPicker
from tests.core.test_compare_export import result as made_up_result
from tests.core.test_quality import TEXT
from tests.fake_openai_server import FakeOpenAIServer
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import SIZE, make_app, settle, wait_for

OPTIONS = LoadOptions(n_ctx=256, n_threads=2)


def text_of(screen: CompareScreen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def open_compare(pilot, app, **kwargs) -> CompareScreen:
    screen = CompareScreen(**kwargs)
    await app.push_screen(screen)
    await settle(pilot, workers=False)  # (a worker looks for the default models)
    return screen


async def run_prompt(pilot, screen: CompareScreen, text: str, turn: int = 1) -> None:
    prompt = screen.query_one("#cmp-prompt")
    prompt.focus()
    prompt.text = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: not screen.busy and screen.last is not None and screen.last.turn >= turn, 60)
    await settle(pilot)


async def press_outside_prompt(pilot, screen: CompareScreen, *keys: str) -> None:
    screen.column("a").turns.focus()
    await settle(pilot, workers=False)
    await pilot.press(*keys)
    await settle(pilot, workers=False)  # (a key that opens a dialog has a worker waiting for its answer)


@pytest.mark.engine
async def test_two_quantizations_stream_side_by_side_and_are_kept(
    default_model: Path, quantized_models: dict[str, Path]
) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, app, path_a=default_model, path_b=quantized_models["Q8_0"],
                                    max_tokens=12, load_options=OPTIONS)  # fmt: skip
        await run_prompt(pilot, screen, "Name three colours.")
        a, b, r = screen.column("a"), screen.column("b"), screen.last
        assert not r.cancelled and r.memory_mode == "sequential"
        assert a.text.strip() and b.text.strip()
        assert (a.text, b.text) == (r.a.answer, r.b.answer)
        assert a.state.startswith("loaded in") and b.state.startswith("loaded in")
        # The speed table shows both sides; B (Q8_0) is the bigger file.
        _, size_a, size_b, ratio = screen.summary.speed_row("file_size_bytes")
        assert size_a == "93.8 MiB" and size_b.endswith(" MiB") and ratio.endswith("×")  # IEC, as everywhere
        assert float(size_b.split()[0]) > 93.8
        for key in ("gen_tokens", "gen_tps", "ttft_s", "load_s"):
            cells = screen.summary.speed_row(key)
            assert "–" not in cells[1:3], key
        assert text_of(screen, "#cmp-agree").startswith("identical tokens: ")
        if r.agreement.first_divergence is not None:  # Q8_0 may or may not part from Q4_1 within 12 tokens
            assert screen.column("b").marked == b.text
        # Kept: a comparison session with its first turn.
        session = app.store.get_session(screen.session_id)
        assert session is not None and session.kind == "compare"
        saved = app.store.list_comparisons(session_id=screen.session_id)
        assert len(saved) == 1 and saved[0]["prompt"] == "Name three colours."
        assert saved[0]["result"]["b"]["answer"] == b.text
        # A follow-up continues both conversations.
        await run_prompt(pilot, screen, "And three animals?", turn=2)
        assert len(a.answers) == len(b.answers) == 2
        assert [m.role for m in screen.compare.histories["b"]] == ["user", "assistant", "user", "assistant"]
        assert len(app.store.list_comparisons(session_id=screen.session_id)) == 2
        # Export to Markdown and JSON.
        await press_outside_prompt(pilot, screen, "x")
        folder = app.paths.data_dir / "exports"
        md = (folder / f"compare-{screen.session_id}.md").read_text()
        assert "And three animals?" in md and "| File size |" in md and "Q8_0" in md
        doc = json.loads((folder / f"compare-{screen.session_id}.json").read_text())
        assert doc["format"] == "edgetui-comparison" and len(doc["comparisons"]) == 2


@pytest.mark.engine
async def test_identical_models_agree_and_have_no_quality_loss(default_model: Path, tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text(TEXT)
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, app, path_a=default_model, path_b=default_model, max_tokens=8,
                                    load_options=OPTIONS, concurrent=True)  # fmt: skip
        await run_prompt(pilot, screen, "Say hello.")
        assert screen.last.memory_mode == CONCURRENT and CONCURRENT in text_of(screen, "#cmp-bar")
        assert screen.column("a").text == screen.column("b").text
        assert "identical tokens: 100%" in text_of(screen, "#cmp-agree")
        assert screen.column("b").marked == ""  # nothing to highlight
        # Quality on a text file, through the same loaded models.
        await press_outside_prompt(pilot, screen, "q")
        app.screen.query_one("#dialog-input").value = str(text)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.last_quality is not None and not screen.busy, 60)
        await settle(pilot)
        q = screen.last_quality
        assert q.kl_mean == pytest.approx(0, abs=1e-6) and q.top1_agree == 1.0
        assert q.ppl_a == pytest.approx(q.ppl_b)
        shown = text_of(screen, "#cmp-quality")
        assert "mean KL 0.000000" in shown and "top-1 agreement 100.00%" in shown and "perplexity A" in shown
        rows = app.store.list_comparisons(session_id=screen.session_id)
        assert rows[0]["prompt"].startswith("quality on") and rows[0]["result"]["kl_mean"] == pytest.approx(0, abs=1e-6)


@pytest.mark.engine
async def test_not_enough_memory_runs_one_model_at_a_time(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, path_a=default_model, path_b=default_model, max_tokens=4,
                                    load_options=OPTIONS, available_bytes=50 << 20, concurrent=True)  # fmt: skip
        await run_prompt(pilot, screen, "Hi")
        assert screen.last.memory_mode == SWAP == "sequential: not enough memory for both"
        assert SWAP in text_of(screen, "#cmp-bar")
        assert "not enough memory for both" in text_of(screen, "#cmp-notes")
        assert screen.column("a").state == screen.column("b").state == "unloaded"
        assert screen.compare.engines["a"].info is None and screen.compare.engines["b"].info is None
        assert screen.column("a").text and screen.column("b").text


@pytest.mark.engine
async def test_escape_stops_then_leaves(default_model: Path) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, app, path_a=default_model, path_b=default_model, max_tokens=200,
                                    load_options=OPTIONS)  # fmt: skip
        prompt = screen.query_one("#cmp-prompt")
        prompt.focus()
        prompt.text = "Write a long story about a dragon."
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.column("a").text), 60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.busy, 60)
        await settle(pilot)
        r = screen.last
        assert r is not None and r.cancelled and r.agreement is None
        assert screen.column("a").text == r.a.answer != ""  # the partial answer stays
        if r.a.stats.stop_reason is StopReason.CANCELLED:  # the usual case: A was cut short, B never ran
            assert r.b.answer == "" and "not run" in r.b.stats.note
        else:  # on a very fast machine A may have finished before the key arrived: then B was cut short
            assert r.b.stats.stop_reason is StopReason.CANCELLED and screen.column("b").text == r.b.answer
        assert "Stopped" in text_of(screen, "#cmp-status")
        assert screen.compare.histories == {"a": [], "b": []}
        await pilot.press("escape")  # idle: leave the screen
        await wait_for(pilot, lambda: app.screen is not screen)


@pytest.mark.engine
async def test_bad_model_is_a_message_not_a_traceback(default_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, path_a=default_model, path_b=bad, max_tokens=4)
        await pilot.press(*"hi", "enter")
        await wait_for(pilot, lambda: not screen.busy, 30)
        await settle(pilot)  # (not busy yet, or done: the turn's worker has ended and its message is shown)
        assert "not a GGUF file" in text_of(screen, "#cmp-status")
        # Quality: nothing to measure yet, then a file that cannot be read.
        await press_outside_prompt(pilot, screen, "q")
        await pilot.press("enter")
        await settle(pilot)
        assert "Nothing to measure yet" in text_of(screen, "#cmp-status")
        await pilot.press("q")
        await wait_for(pilot, lambda: bool(app.screen.query("#dialog-input")))
        app.screen.query_one("#dialog-input").value = str(tmp_path / "none.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not screen.busy and "Cannot read" in text_of(screen, "#cmp-status"))
        assert "quality not measured: Cannot read" in text_of(screen, "#cmp-quality")
        # The picker refuses a bad path in place, then takes a good one.
        await press_outside_prompt(pilot, screen, "b")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        picker.query_one("#picker-path").value = str(tmp_path / "missing.gguf")
        picker.query_one("#picker-path").focus()
        await pilot.press("enter")
        await settle(pilot, workers=False)
        assert "not found" in text_of(picker, "#picker-error") and app.screen is picker
        picker.query_one("#picker-path").value = str(default_model)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is screen)
        await settle(pilot)  # (the picker's answer reaches the screen through a worker)
        assert screen.paths["b"] == default_model and default_model.stem in text_of(screen, "#cmp-bar")


@pytest.mark.engine
async def test_defaults_are_the_chat_model_and_a_sibling_quantization(
    default_model: Path, quantized_models: dict[str, Path]
) -> None:
    app = make_app(FakeEngine(), model=default_model)
    for quant, path in quantized_models.items():
        (app.paths.models_dir / f"SmolLM2-135M-Instruct.{quant}.gguf").symlink_to(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.engine.info is not None)
        screen = await open_compare(pilot, app)
        await wait_for(pilot, lambda: screen.paths["b"] is not None)
        assert screen.paths["a"] == default_model
        assert screen.paths["b"].name == "SmolLM2-135M-Instruct.Q8_0.gguf"  # the sibling with the most bits
        # "a" opens the picker on the candidates found.
        await press_outside_prompt(pilot, screen, "a")
        picker = app.screen
        assert isinstance(picker, ModelPicker)
        await wait_for(pilot, lambda: len(picker.rows) >= 3)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await settle(pilot)
        assert screen.paths["a"] == default_model


@pytest.mark.engine
async def test_a_remote_endpoint_is_offered_and_compared_as_b(default_model: Path) -> None:
    with FakeOpenAIServer() as server:
        endpoint = Endpoint(name="fake", base_url=f"{server.url}/v1", model="fake-model")
        app = make_app(FakeEngine(), model=None, endpoints=(endpoint,))
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_compare(pilot, app, path_a=default_model, path_b=default_model, max_tokens=4,
                                        load_options=OPTIONS)  # fmt: skip
            await press_outside_prompt(pilot, screen, "b")
            picker = app.screen
            assert isinstance(picker, ModelPicker)
            await wait_for(pilot, lambda: any(c.remote for c in picker.rows.values()))
            key, row = next((k, c) for k, c in picker.rows.items() if c.remote)
            assert row.name == "fake/fake-model" and row.source == "remote"
            table = picker.query_one("#picker-table")
            table.focus()
            table.move_cursor(row=table.get_row_index(key))
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.screen is screen)
            await settle(pilot)  # (the picker's answer reaches the screen through a worker)
            assert str(screen.paths["b"]) == "openai:fake/fake-model"
            await run_prompt(pilot, screen, "Say hi.")
            r = screen.last
            assert r.b.answer == "Hello, world!" and r.a.answer and r.agreement is None
            assert "agreement needs both vocabularies" in text_of(screen, "#cmp-notes")
            # quality needs logits: a clear message, no traceback
            await press_outside_prompt(pilot, screen, "q")
            await pilot.press("enter")
            await wait_for(pilot, lambda: not screen.busy and "logits" in text_of(screen, "#cmp-status"))
            assert "a remote endpoint does not give them" in text_of(screen, "#cmp-status")


async def test_divergence_is_marked_and_a_saved_session_reopens(tmp_path: Path) -> None:
    r = made_up_result()  # A: "Red, blue and green." B: "Red, blue and pink!", parting at token 3 (offset 12)
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(pilot, app, path_a=tmp_path / "a.gguf", path_b=tmp_path / "b.gguf")
        for side in ("a", "b"):
            column = screen.column(side)
            await column.start_turn("Name three colours.")
            await column.append(getattr(r, side).answer)
        screen.busy = "turn"
        screen.post_message(CompareTurnDone(screen._run_id, r, None))
        await wait_for(pilot, lambda: not screen.busy)
        await settle(pilot)
        assert text_of(screen, "#cmp-agree") == "identical tokens: 60%  first divergence at token 3"
        assert screen.column("b").marked == "Red, blue and pink!"
        shown = divergence_text(r.b.answer, 12, 19)  # B's last token ("pink!") is where it parts
        assert [(s.start, s.end, str(s.style)) for s in shown.spans] == [(12, 19, "bold reverse")]
        tail = divergence_text("The red fox ran", 8, 11).spans
        assert [(s.start, s.end, str(s.style)) for s in tail] == [(8, 11, "bold reverse"), (11, 15, "italic")]
        assert screen.summary.speed_row("file_size_bytes")[1:] == ["150 MiB", "60.0 MiB", "0.40×"]
        assert screen.summary.speed_row("gen_tokens")[1:] == ["5", "4", "-1"]
    # A saved comparison session shows again, and its conversation continues from there.
    sid = app.store.create_session(title="saved", kind="compare")
    app.store.add_comparison(**compare_to_record(r), session_id=sid)
    app = make_app(FakeEngine(), model=None, store=app.store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_compare(pilot, app, session_id=sid)
        assert screen.paths["a"] == Path("/m/Model.Q8_0.gguf") and screen.paths["b"] == Path("/m/Model.Q2_K.gguf")
        assert screen.column("b").answers == ["Red, blue and pink!"]
        assert screen._restored is not None and screen._restored[1] == 1
        assert [m.role for m in screen._restored[0]["a"]] == ["user", "assistant"]
        assert "Saved comparison: 1 turn(s)" in text_of(screen, "#cmp-status")
