"""Every screen and dialog shows text from outside (a file's name and GGUF header, the Hugging Face Hub's answers, an
endpoint's model id and errors, the database, paths from the environment) with its control characters as marks and
its brackets as they are: nothing reaches the terminal as an escape sequence, nothing is read as markup (no
MarkupError). The tests run with Textual's own handling of control characters (the app's safety net off, as on a
Textual version it was not checked against): what they check is each screen's own care."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from textual import content
from textual.widgets import DataTable, Input, Static

from edgetui.config import Config, Endpoint
from edgetui.core.compare.records import compare_to_record
from edgetui.core.store.store import Store
from edgetui.core.types import LoadOptions, ModelInfo
from edgetui.paths import Paths
from edgetui.ui.app import create_app
from edgetui.ui.catalog.model_details import ModelDetails
from edgetui.ui.compare.compare_screen import CompareScreen
from edgetui.ui.compare.model_picker import ModelPicker
from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog
from edgetui.ui.dialogs.help_screen import HelpScreen
from edgetui.ui.dialogs.input_dialog import InputDialog
from edgetui.ui.dialogs.quantize_dialog import QuantizeDialog
from edgetui.ui.dialogs.settings_dialog import SettingsDialog
from edgetui.ui.screens.bench_screen import BenchScreen
from edgetui.ui.screens.sessions_screen import SessionsScreen
from tests.core.test_compare_export import result as made_up_result
from tests.core.test_gguf import build_gguf
from tests.fake_openai_server import FakeOpenAIServer
from tests.hub_server import FakeFile, FakeHub, FakeRepo, use_fake_hub
from tests.ui.fake_engine import FakeEngine
from tests.ui.helpers import settle, wait_for, wait_loaded
from tests.ui.screen_text import screen_lines
from tests.ui.test_catalog_pane import make_app, select, wait_scanned
from tests.ui.test_hub_screen import hub_status, open_hub

TITLE, CLEAR, MARKUP = "\x1b]0;PWNED\x07", "\x1b[2J", "[red]x[/]"
EVIL = f"evil{TITLE}{MARKUP}"  # what a server says: anything at all
SHOWN = "evil␛]0;PWNED␇[red]x[/]"
EVIL_FILE = f"evil{TITLE}[red]x"  # a file's name: anything but / and NUL
SHOWN_FILE = "evil␛]0;PWNED␇[red]x"
SIZE = (120, 40)


def _screen(app) -> str:
    return "\n".join(screen_lines(app))


def _shown_in(app, widget) -> str:
    """What the screen shows in `widget`'s region."""
    region = widget.region
    return "\n".join(line[region.x : region.right] for line in screen_lines(app)[region.y : region.bottom])


def _flat(app, widget) -> str:
    """What `widget` shows as one line: its lines without their borders, joined (a long path wraps)."""
    return "".join(line.strip(" │▊▎▏▕") for line in _shown_in(app, widget).splitlines())


async def _end_of(pilot, box: Input) -> Input:
    """`box` focused, its cursor at the end of its value (which it shows, scrolled)."""
    box.focus()
    box.cursor_position = len(box.value)
    await settle(pilot)
    return box


def _clean(app) -> str:
    """The whole screen, asserted to hold no control character (what would reach the terminal as a command)."""
    shown = _screen(app)
    bad = sorted({f"{ord(ch):#x}" for ch in shown if ord(ch) < 0x20 and ch != "\n" or 0x7F <= ord(ch) < 0xA0})
    assert not bad, f"control characters on the screen: {bad}\n{shown}"
    return shown


@pytest.fixture(autouse=True)
def without_safety_net(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Textual as it is: its Content deletes five control characters and lets ESC through."""
    table = content._CONTROL_STRIP_TRANSLATE
    saved = dict(table)
    monkeypatch.setattr("edgetui.ui.app.show_control_characters", lambda: False)
    table.clear()
    table.update({code: None for code in content._STRIP_CONTROL_CODES})
    yield
    table.clear()
    table.update(saved)


def hostile_gguf(name: str, arch: str = "llama", license: str = "", ftype: int = 7, basename: str = "evil") -> bytes:
    """A small GGUF file (readable header, fake tensors) whose text fields are `name`, `arch` and `license`."""
    kvs = [("general.architecture", 8, arch), ("general.name", 8, name), ("general.basename", 8, basename),
           ("general.license", 8, license), ("general.file_type", 4, ftype), (f"{arch}.block_count", 4, 2),
           (f"{arch}.context_length", 4, 512), (f"{arch}.embedding_length", 4, 32),
           (f"{arch}.attention.head_count", 4, 2)]  # fmt: skip
    tensors = [("token_embd.weight", [32, 8], 0), ("blk.0.w", [32, 32], 8), ("blk.1.w", [32, 32], 8)]
    return build_gguf(kvs, tensors)


# -- the Hugging Face Hub -------------------------------------------------------------------------------
EVIL_REPO = "edgetui-test/Evil-GGUF"
GONE = f"gone{TITLE}[/].Q4_0.gguf"  # listed, then missing when downloaded: an error that names it


@pytest.fixture
def evil_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    repos = [
        FakeRepo(f"evil/{TITLE}{MARKUP}", [FakeFile("a.gguf", data=hostile_gguf("a"))], downloads=900),
        FakeRepo(EVIL_REPO, [FakeFile(f"{EVIL}.Q8_0.gguf", data=hostile_gguf("Evil")),
                             FakeFile(GONE, data=hostile_gguf("Gone", ftype=2) + b"\0" * 64)], downloads=500),
    ]  # fmt: skip
    with FakeHub(repos) as hub:
        yield use_fake_hub(hub, monkeypatch)


async def test_the_hub_shows_repository_and_file_names_and_its_errors_as_marks(evil_hub: FakeHub) -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_hub(pilot, app)
        await wait_for(pilot, lambda: len(screen.repos) == 2, what="the most downloaded repositories")
        await settle(pilot)
        assert "evil/␛]0;PWNED␇[red]x[/]" in _clean(app)  # a repository id as the search answered it
        await pilot.press(*"Evil-GGUF", "enter")
        await wait_for(pilot, lambda: list(screen.repos) == [EVIL_REPO], what="the search's answer")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(screen.files) == 2, what="the repository's files")
        await settle(pilot)
        shown = _clean(app)
        assert f"{SHOWN}.Q8_0.gguf" in shown and "gone␛]0;PWNED␇[/].Q4_0.gguf" in shown
        files = screen.query_one("#hub-files", DataTable)
        evil_hub.repos[EVIL_REPO].files.pop()  # the Hub no longer has it: its download fails, naming it
        files.move_cursor(row=files.get_row_index(GONE))
        await pilot.press("enter")
        await wait_for(pilot, lambda: "has no file" in hub_status(screen), what="the download's error")
        await settle(pilot)
        assert "has no file gone␛]0;PWNED␇[/].Q4_0.gguf" in _clean(app)
        files.move_cursor(row=files.get_row_index(f"{EVIL}.Q8_0.gguf"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: bool(screen.downloaded), what="the download")
        await settle(pilot)
        assert f"Downloaded {SHOWN}.Q8_0.gguf to " in _clean(app)
        assert str(screen.downloaded[0]).endswith(f"{EVIL}.Q8_0.gguf")  # the file keeps its name (a / is a folder)
        screen.show_offline(f"offline: cannot reach the Hub ({TITLE}{MARKUP})")
        await settle(pilot)
        assert "OFFLINE: cannot reach the Hub (␛]0;PWNED␇[red]x[/])" in _clean(app)


# -- a file's header: details, picker, quantize, gauges -----------------------------------------------------
async def test_model_details_show_every_header_field_the_path_and_siblings_as_marks() -> None:
    app = make_app(FakeEngine(), model=None)
    models = app.paths.models_dir
    main = models / f"{EVIL_FILE}.Q8_0.gguf"
    arch = f"ll{TITLE}ama"
    main.write_bytes(hostile_gguf(f"Model {CLEAR}{MARKUP}", arch=arch, license=f"MIT{TITLE}[/]"))
    sibling = models / f"sib{TITLE}[red]x.Q4_0.gguf"
    sibling.write_bytes(hostile_gguf("Sibling", arch=arch, ftype=2))
    async with app.run_test(size=(140, 60)) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, main)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelDetails), what="the details")
        await settle(pilot)
        shown = _clean(app)
        assert f"Model details: {SHOWN_FILE}.Q8_0" in shown
        for text in (f"{SHOWN_FILE}.Q8_0.gguf", "Model ␛[2J[red]x[/]", "ll␛]0;PWNED␇ama", "MIT␛]0;PWNED␇[/]"):
            assert text in shown, text
        assert "sib␛]0;PWNED␇[red]x.Q4_0" in shown  # the siblings' table


async def test_the_model_picker_lists_file_names_and_its_errors_as_marks() -> None:
    app = make_app(FakeEngine(), model=None)
    evil = app.paths.models_dir / f"{EVIL_FILE}.Q8_0.gguf"
    evil.write_bytes(hostile_gguf("Evil"))
    async with app.run_test(size=SIZE) as pilot:
        picker = ModelPicker("a", current=evil)
        await app.push_screen(picker)
        await wait_for(pilot, lambda: bool(picker.rows), what="the candidates")
        await settle(pilot)
        assert f"{SHOWN_FILE}.Q8_0" in _shown_in(app, picker.query_one(DataTable)) and _clean(app)
        box = await _end_of(pilot, picker.query_one("#picker-path", Input))
        assert f"{SHOWN_FILE}.Q8_0.gguf" in _shown_in(app, box) and box.value == str(evil)  # (the path itself)
        folder = evil.with_name(f"dir{TITLE}[")
        folder.mkdir()
        box.value = str(folder / "]missing.gguf")  # a path can hold a closing tag: '[/]'

        box.focus()
        await pilot.press("enter")
        await settle(pilot, workers=False)
        assert app.screen is picker and "not found" in (shown := _clean(app))
        assert "dir␛]0;PWNED␇[/]missing.gguf" in shown


async def test_the_quantize_dialog_its_confirmation_and_its_error_show_the_name_as_marks() -> None:
    app = make_app(FakeEngine(), model=None)
    evil = app.paths.models_dir / f"{EVIL_FILE}.Q8_0.gguf"
    evil.write_bytes(hostile_gguf("Evil"))
    async with app.run_test(size=SIZE) as pilot:
        await wait_scanned(pilot, app)
        await select(pilot, app, evil)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuantizeDialog), what="the quantize dialog")
        await settle(pilot)
        dialog = app.screen
        shown = _clean(app)
        assert f"Quantize {SHOWN_FILE}.Q8_0 (Q8_0" in shown  # the title
        assert f"{SHOWN_FILE}.Q8_0 is already quantized" in shown  # the requantization note
        box = await _end_of(pilot, dialog.query_one("#quantize-output", Input))
        assert SHOWN_FILE in _shown_in(app, box) and EVIL_FILE in box.value  # the output path, shown and kept
        box.value = str(evil)  # a file that exists: a confirmation, then an error
        box.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the confirmation")
        await settle(pilot)
        confirm = _flat(app, app.screen.query_one(".dialog"))
        assert f"{SHOWN_FILE}.Q8_0.gguf" in confirm and "already exists" in confirm and _clean(app)
        await pilot.press("y")
        status = dialog.query_one("#quantize-status", Static)
        await wait_for(pilot, lambda: "overwrite" in str(status.render()), what="the error")
        await settle(pilot)
        assert f"{SHOWN_FILE}.Q8_0.gguf is already" in _clean(app)


class _FileInfoEngine(FakeEngine):
    """What an engine reads from a file's header (its type's name) is the file's text."""

    def load(self, path: str | Path, options: LoadOptions) -> ModelInfo:
        self._info = replace(super().load(path, options), quant=f"Q4{TITLE}[/]", backend=f"cpu{MARKUP}")
        return self._info


async def test_the_gauges_show_the_model_s_quantization_and_backend_as_marks() -> None:
    app = make_app(_FileInfoEngine())
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        shown = _clean(app)
        assert "Q4␛]0;PWNED␇[/]" in shown and "cpu[red]x[/]" in shown


# -- the database: bench, dialogs, settings -----------------------------------------------------------------
async def test_the_bench_screen_shows_stored_results_and_the_model_s_name_as_marks() -> None:
    store = Store.memory()
    row = {"model": EVIL, "test": f"pp{TITLE}", "backend": f"cpu{MARKUP}", "tps_mean": 12.5, "tps_std": 0.5}
    store.add_benchmark({**row, "size": 1000, "params": 1000, "threads": 2, "n_gpu_layers": 0, "reps": 2})
    app = make_app(FakeEngine(), model=Path(f"/models/{EVIL_FILE}.gguf"), store=store)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, app)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, BenchScreen), what="the bench screen")
        await settle(pilot)
        shown = _clean(app)
        assert f"on {SHOWN_FILE}.gguf (" in shown  # the status line: the loaded file
        assert f"{SHOWN} · pp␛]0;PWNED␇ 12.50" in shown  # the line under the table
        assert SHOWN in _shown_in(app, app.screen.query_one(DataTable))  # the row


async def test_the_rename_and_delete_dialogs_show_a_session_s_title_as_marks() -> None:
    store = Store.memory()
    title = f"title {TITLE}{MARKUP}"
    store.create_session(title=title)
    app = make_app(FakeEngine(), model=None, store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        await settle(pilot)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, InputDialog), what="the rename dialog")
        await settle(pilot, workers=False)  # (a worker waits for the dialog's answer)
        assert "title ␛]0;PWNED␇[red]x[/]" in _clean(app)
        assert app.screen.query_one(Input).value == title
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), what="the delete dialog")
        await settle(pilot, workers=False)
        assert "Delete “title ␛]0;PWNED␇[red]x[/]”" in _clean(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
    assert store.get_session(1).title == title


async def test_the_settings_dialog_shows_the_system_prompt_as_marks_and_quotes_a_wrong_value_literally() -> None:
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        conv = app.chat.conv
        conv.set_settings(f"You are {TITLE}{MARKUP} helpful", conv.sampler)
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog), what="the settings dialog")
        await settle(pilot, workers=False)
        assert "You are ␛]0;PWNED␇[red]x[/] helpful" in _clean(app)
        app.screen.query_one("#s-seed", Input).value = "[/]"
        await pilot.press("ctrl+s")
        await settle(pilot, workers=False)
        assert isinstance(app.screen, SettingsDialog)
        assert "seed must be" in (shown := _clean(app)) and "[/]" in shown.split("seed must be")[1]


# -- an endpoint's model id and errors: compare -------------------------------------------------------------
async def test_compare_shows_an_endpoint_s_model_id_and_errors_as_marks() -> None:
    model = f"{EVIL_FILE}-Q4_K_M"  # (shown as a path's last part: a / would cut it)
    with FakeOpenAIServer(models=[model]) as server:
        endpoint = Endpoint(name="evil", base_url=f"{server.url}/v1", model=model)
        app = make_app(FakeEngine(), model=None, endpoints=(endpoint,))
        async with app.run_test(size=SIZE) as pilot:
            path = f"openai:evil/{model}"
            screen = CompareScreen(path_a=path, path_b=path, max_tokens=4)
            await app.push_screen(screen)
            await settle(pilot, workers=False)
            shown = _clean(app)
            assert f"A: {SHOWN_FILE}-Q4_K_M" in shown and f"B: {SHOWN_FILE}-Q4_K_M" in shown  # the bar
            assert f"A · {SHOWN_FILE}" in shown  # a column's name
            await _ask(pilot, screen, "hi")
            await wait_for(pilot, lambda: not screen.busy and screen.last is not None, 30, what="the turn")
            await settle(pilot)
            assert f"A · {SHOWN_FILE}" in _clean(app)  # (named as the endpoint said, once loaded)
            server.reset("500")
            server.error_message = f"overloaded {TITLE}[/]"
            await _ask(pilot, screen, "again")  # an answer's error: under the answer
            await wait_for(pilot, lambda: not screen.busy and screen.last.turn == 2, 30, what="the failed turn")
            await settle(pilot)
            assert "overloaded ␛]0;PWNED␇[/]" in _clean(app)
            screen.dismiss(None)
            screen = CompareScreen(path_a=path, path_b=path, max_tokens=4)  # a load's error: in the status line
            await app.push_screen(screen)
            await settle(pilot, workers=False)
            await _ask(pilot, screen, "hi")
            status = screen.query_one("#cmp-status", Static)
            await wait_for(pilot, lambda: not screen.busy and "overloaded" in str(status.render()), 30, what="error")
            await settle(pilot)
            assert "overloaded ␛]0;PWNED␇[/]" in _flat(app, status) and _clean(app)


async def test_a_saved_comparison_shows_the_database_s_names_and_figures_as_marks() -> None:
    store = Store.memory()
    sid = store.create_session(title="saved", kind="compare")
    turn = compare_to_record(made_up_result())
    turn["model_a"] = f"/m/{EVIL_FILE}.Q8_0.gguf"
    turn["result"]["agreement"]["first_divergence"] = f"3 {TITLE}[/]"
    store.add_comparison(**turn, session_id=sid)
    quality = {"ppl_a": 2.0, "ppl_b": 2.2, "ppl_ratio": 1.1, "scored": 10, "text_tokens": 10, "mode": f"{TITLE}[/]"}
    store.add_comparison(turn["model_a"], turn["model_b"], "", quality, session_id=sid)
    app = make_app(FakeEngine(), model=None, store=store)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CompareScreen(session_id=sid))
        await settle(pilot, workers=False)
        shown = _clean(app)
        assert f"A: {SHOWN_FILE}.Q8_0" in shown and f"A · {SHOWN_FILE}.Q8_0" in shown
        assert "first divergence at token 3 ␛]0;PWNED␇[/]" in shown
        assert "10 tokens scored of 10 (␛]0;PWNED␇[/])" in shown


async def _ask(pilot, screen: CompareScreen, text: str) -> None:
    prompt = screen.query_one("#cmp-prompt")
    prompt.text = text
    prompt.focus()
    await pilot.press("enter")


# -- paths from the environment: help ----------------------------------------------------------------------
async def test_the_help_shows_paths_from_the_environment_literally(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / f"home`{TITLE}{MARKUP}\n# PWNED"
    home.mkdir(parents=True)  # ('[/]' holds a folder's end)
    monkeypatch.setenv("EDGETUI_HOME", str(home))
    app = make_app(FakeEngine(), model=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        app.screen.query_one("#help").scroll_end(animate=False)
        await settle(pilot)
        shown = _clean(app)
        files = _flat(app, app.screen.query_one("#help")).split("Files", 1)[-1]  # (a long path wraps)
        assert "• data:" in files and "• models:" in files, shown  # each path in its list item
        assert "home`␛]0;PWNED␇[red]x[/]␊# PWNED" in files.split("• data:")[1].split("• models:")[0]


# -- a saved chat session: reopened on start, listed, searched --------------------------------------------
async def test_a_saved_session_reopened_on_start_listed_and_searched_shows_the_database_s_text_as_marks(
    tmp_path: Path,
) -> None:
    """A session an earlier run saved (or another program wrote): its title, model name, system prompt, prompt,
    answer and the answer's stored figures come back from the database on start, in the sessions list and its
    search, all as marks; the database keeps them as they were."""
    store = Store.open(tmp_path / "sessions.db")
    sid = store.create_session(
        model_path=f"/m/{EVIL_FILE}.gguf", model_name=f"{EVIL_FILE}", system_prompt=f"sys {TITLE}{MARKUP}"
    )
    store.rename_session(sid, f"saved {TITLE}{MARKUP}")
    question = store.add_message(sid, "user", f"lighthouse {CLEAR}{TITLE}\n[/]indented")
    answer = store.start_answer(sid, question, model=EVIL_FILE)
    run = {"gen_tokens": 9, "gen_tps": 3.0, "ttft_s": 0.1, "prompt_tokens": 4, "prompt_eval_tokens": 4,
           "prompt_tps": 40.0, "total_s": 3.0, "stop_reason": f"eos{TITLE}", "model_name": EVIL_FILE}  # fmt: skip
    store.finish_answer(answer, f"keeper {TITLE} of the {CLEAR}light{MARKUP}", run=run)
    store.set_state("last_session", sid)
    config = Config(db=str(store.path), scan_ollama=False, scan_lmstudio=False)
    app = create_app(config, Paths.from_env().ensure(), engine=FakeEngine(), store=store, resume=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.chat.conv.session_id == sid, what="the last session, reopened")
        await settle(pilot)
        shown = _clean(app)
        assert "lighthouse ␛[2J␛]0;PWNED␇" in shown and "[/]indented" in shown  # the prompt, verbatim
        assert "keeper ␛]0;PWNED␇ of the ␛[2Jlight[red]x[/]" in shown  # the answer's Markdown
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), what="the sessions screen")
        await settle(pilot)
        shown = _clean(app)
        assert "saved ␛]0;PWNED␇[red]x[/]" in shown  # the title, in the table and in the line under it
        assert SHOWN_FILE in _shown_in(app, app.screen.query_one(DataTable))  # the model's name
        await pilot.press("slash", *"keeper")
        await wait_for(pilot, lambda: len(app.screen.sessions) == 1, what="the search's answer")
        await settle(pilot)
        assert "saved ␛]0;PWNED␇[red]x[/]" in _clean(app)
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: app.screen is app.main_screen, what="the chat")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, SettingsDialog), what="the settings dialog")
        await settle(pilot, workers=False)
        assert "sys ␛]0;PWNED␇[red]x[/]" in _clean(app)
    stored = store.thread(sid)
    assert [m.content for m in stored] == [f"lighthouse {CLEAR}{TITLE}\n[/]indented",
                                           f"keeper {TITLE} of the {CLEAR}light{MARKUP}"]  # fmt: skip
    assert store.get_session(sid).title == f"saved {TITLE}{MARKUP}"
