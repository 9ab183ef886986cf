"""The Textual app and its factory: services (engine, settings) are injected, never built at import."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from edgetui.config import Config
from edgetui.core.chat.conversation import Conversation
from edgetui.core.engines.factory import make_engine
from edgetui.core.engines.llama import Engine
from edgetui.core.gguf.read import GGUFHeader
from edgetui.core.models.catalog import CatalogEntry
from edgetui.core.models.fit import Resources
from edgetui.core.models.ref import ModelRef
from edgetui.core.store.background_writes import BackgroundWrites
from edgetui.core.store.store import Store, StoreError
from edgetui.core.system.metrics import Metrics, TokenRate
from edgetui.core.types import GenerationStats, LoadOptions, SamplerSettings
from edgetui.core.visible_text import visible
from edgetui.paths import Paths
from edgetui.ui._textual import show_control_characters
from edgetui.ui.catalog.catalog_messages import DownloadFinished, LoadNeedsConfirm, ModelReady
from edgetui.ui.catalog.catalog_pane import CatalogPane
from edgetui.ui.catalog.model_loading import ModelLoader, confirm_question, loaded_text
from edgetui.ui.catalog.remote_row import RemoteRow
from edgetui.ui.chat.chat_pane import ChatPane
from edgetui.ui.messages import AnswerEnded, ContextMeasured, ModelLoadFailed, SessionShown, UnsavedAnswersTried
from edgetui.ui.paste_guard import keep_pastes_whole
from edgetui.ui.screens.main_screen import MainScreen
from edgetui.ui.widgets.gauge_pane import GaugePane

WAITING_SAID_S = 1.5  # a write to the sessions database that takes longer is waiting for another process's lock
HANG_UP_SAVE_S = 10.0  # after SIGHUP/SIGTERM: how long the answer being streamed may take to reach the database
HANG_UP_GRACE_S = 3.0  # then how long the clean exit may take before the process ends regardless
TTY_CHECK_S = 1.0  # how often the terminal is checked for a hang-up that brought no SIGHUP
UNSAVED_RETRY_S = 2.0  # how often an answer the database could not take (a full disk) is tried again


def styles_dir() -> Path:
    """The .tcss files: inside the wheel (edgetui/styles) or at the repository root (editable installs)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "styles", package.parent / "styles"):
        if candidate.is_dir():
            return candidate
    return package / "styles"


@dataclass
class Services:
    """What the app works with; tests pass fakes."""

    config: Config
    paths: Paths
    engine: Engine  # the local one (`make_engine`); a remote model gets its own while it is loaded
    store: Store = field(default_factory=Store.memory)
    metrics: Metrics = field(default_factory=Metrics)


class EdgeApp(App[None]):
    """edgetui's full-screen app."""

    TITLE = "edgetui"
    CSS_PATH = [
        styles_dir() / name for name in ("app.tcss", "chat.tcss", "catalog.tcss", "gauges.tcss", "compare.tcss")
    ]
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "interrupt", "Stop", show=False, priority=True),
        Binding("escape", "stop", "Stop"),
        Binding("f1", "help", "Help"),
        Binding("ctrl+n", "new_session", "New"),
        Binding("ctrl+r", "regenerate", "Regenerate", show=False),
        Binding("ctrl+e", "edit", "Edit", show=False),
        Binding("ctrl+t", "settings", "Settings"),
        Binding("ctrl+y", "copy_answer", "Copy", show=False),
        Binding("ctrl+s", "sessions", "Sessions"),
        Binding("ctrl+b", "bench", "Bench", show=False),
        Binding("ctrl+k", "compare", "Compare"),
        Binding("f2", "toggle_pane('catalog')", "Catalog", show=False),
        Binding("f3", "toggle_pane('gauges')", "Gauges", show=False),
    ]

    # Every action in the command palette (Ctrl+P), with its key.
    PALETTE_ACTIONS: tuple[tuple[str, str, str], ...] = (
        ("New chat session", "Ctrl+N: start an empty session", "new_session"),
        ("Stop the answer", "Esc: stop generating; the partial answer stays", "stop"),
        ("Regenerate the last answer", "Ctrl+R: the earlier answer stays as a sibling branch", "regenerate"),
        ("Edit the last prompt", "Ctrl+E: edit and resend as a new branch", "edit"),
        ("Copy the last answer", "Ctrl+Y: to the clipboard with OSC 52 (works over SSH)", "copy_answer"),
        ("Session settings", "Ctrl+T: system prompt and sampling settings", "settings"),
        ("Sessions", "Ctrl+S: list, search, open, rename, delete, export", "sessions"),
        ("Compare two quantizations", "Ctrl+K: one prompt through A and B: speed, agreement, quality", "compare"),
        ("Benchmark the model", "Ctrl+B: llama-bench's pp512 / tg128, kept in the database", "bench"),
        ("Search the Hugging Face Hub", "h in the catalog: search, list GGUF files, download (Esc cancels)", "hub"),
        ("Rescan the model catalog", "r in the catalog", "rescan_models"),
        ("Help: keys and files", "F1", "help"),
        ("Show/hide the catalog", "F2", "toggle_pane('catalog')"),
        ("Show/hide the gauges", "F3", "toggle_pane('gauges')"),
    )

    def __init__(
        self,
        services: Services,
        model_path: ModelRef | Path | str | None = None,
        *,
        resume: bool = False,
        reopen_session: bool = True,
        fallback_model: ModelRef | Path | None = None,
    ) -> None:
        """`model_path` is loaded at start; else, with `resume`, the model loaded when the app last quit (when it is
        still there); else `fallback_model`. `resume` also opens the last session again (unless not
        `reopen_session`), and keeps the theme, the catalog's sort and "save as default" settings from one run to the
        next (in the database's app_state)."""
        super().__init__()
        show_control_characters()  # (under the widgets' own `visible()`: text that gets to the screen another way)
        keep_pastes_whole()  # (a paste with an ESC in it came in out of order, partly as key presses)
        self.services = services
        self.config = services.config
        self.paths = services.paths
        self.fit_resources_override: Resources | None = None  # what the fit check sees (tests); None: probe
        self.last_fit_line = ""  # predicted vs measured memory of the last load
        self.writes = BackgroundWrites(services.store)  # what nothing waits for: a locked database freezes nothing
        self.loader = ModelLoader(
            services.engine, services.store, services.config, self.post_message, self.run_worker, self.fit_resources,
            writes=self.writes,
        )  # fmt: skip
        self.store: Store = services.store
        self._said_waiting = False
        self.metrics: Metrics = services.metrics
        self.resume = resume
        self.reopen_session = reopen_session
        self.fallback_model = fallback_model
        defaults = self.store.get_state("defaults", {}) if resume else {}
        # what a new session starts with (Ctrl+N): config.toml's, or those saved with "Save as default"
        self.system_prompt: str = defaults.get("system_prompt", services.config.system_prompt)
        self.sampler: SamplerSettings = services.config.sampler.updated(defaults.get("sampler", {}))
        self.model_path = model_path
        self.token_rate = TokenRate()
        self._exit_when_saved = False
        self._saving_unsaved = False
        self._old_signal_handlers: dict[int, object] = {}
        self._unmounted = threading.Event()

    CHAT_ACTIONS = frozenset({"new_session", "regenerate", "edit", "settings", "copy_answer"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Chat keys act only while the chat is on screen (not under the compare or sessions screens)."""
        return action not in self.CHAT_ACTIONS or self.screen is getattr(self, "main_screen", None)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification of the app and its screens: never markup, control characters shown as marks (what
        they say often comes from a model, a server, a file name or the database)."""
        super().notify(visible(message), title=visible(title), severity=severity, timeout=timeout, markup=markup)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in self.PALETTE_ACTIONS:
            yield SystemCommand(title, help_text, lambda a=action: self.call_later(self.run_action, a))

    def new_conversation(self) -> Conversation:
        """An empty session with the defaults (config.toml's, or those saved with "Save as default")."""
        return Conversation(self.store, system_prompt=self.system_prompt, sampler=self.sampler)

    def on_mount(self) -> None:
        self.main_screen = self.build_main_screen()
        self.push_screen(self.main_screen)
        if self.config.low_redraw:
            self.animation_level = "none"
        theme = self.store.get_state("theme") if self.resume else None
        if theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember("theme", theme.name))
        self._install_signal_handlers()
        self.call_after_refresh(self._after_start)
        if self.store.notice:
            self.notify(self.store.notice, title="Sessions database", severity="warning", timeout=20)
        if self.config.unknown:
            keys = ", ".join(self.config.unknown)
            note = f"Unknown key(s) {keys}: ignored (a typo, or a setting of a newer edgetui)."
            self.notify(note, title=str(self.paths.config_file), severity="warning", timeout=20)
        for note in self.config.notes:
            self.notify(note, title="Settings", severity="warning", timeout=20)

    def build_main_screen(self) -> MainScreen:
        """The main screen's panes, each given the services it works with (the app itself is the chat's host: the
        engine it answers with changes as models are loaded)."""
        sort = self.store.get_state("catalog_sort") if self.resume else None
        config = self.config
        catalog = CatalogPane(config, self.paths, self.store, self.fit_resources, id="catalog", sort_key=sort)
        chat = ChatPane(self.new_conversation(), self, low_redraw=config.low_redraw, id="chat")
        return MainScreen(catalog, chat, GaugePane(id="gauges"))

    def _after_start(self) -> None:
        import gc

        # What start-up made (widgets, styles, imported modules) lives as long as the app: out of the collector's
        # reach, a full collection no longer walks it while an answer streams (measured: up to 37 ms with the GIL
        # held, which stalls the token loop).
        gc.freeze()
        self.scan_models()
        model = self.model_path or (self.remembered_model() if self.resume else None) or self.fallback_model
        if model is not None:
            self.load_model(model)
        if self.resume and self.reopen_session:
            self.run_worker(self._reopen_last_session(), group="resume")
        self.set_interval(0.5, self.sample_metrics)
        self.set_interval(UNSAVED_RETRY_S, self._retry_unsaved)

    # -- answers the database could not take (a full disk) ------------------------------------------------
    def _retry_unsaved(self) -> None:
        """Now and then, while an answer is only in memory, try to save it again (in a thread: a write can wait
        seconds on a locked file)."""
        store = self.store
        if (store.unsaved or store.saved_later) and not self._saving_unsaved:
            self._saving_unsaved = True
            self._save_unsaved()

    @work(thread=True, group="unsaved")
    def _save_unsaved(self) -> None:
        error = ""
        try:
            self.store.save_unsaved()
        except StoreError as exc:
            error = str(exc)
        self.post_message(UnsavedAnswersTried(self.store.take_saved_later(), self.store.unsaved, error))

    def on_unsaved_answers_tried(self, message: UnsavedAnswersTried) -> None:
        self._saving_unsaved = False
        if message.saved and not message.left:
            self.chat.unsaved_answers_saved(message.saved)

    # -- what is kept from one run to the next ----------------------------------------------------------
    def remember(self, key: str, value: object) -> None:
        """Keep `value` for the next run (on the writer thread: a failed write only means it is not remembered)."""
        if self.resume:
            self.writes.set_state(key, value)

    def remembered_model(self) -> ModelRef | None:
        """The model loaded when the app last quit, if it can still be loaded."""
        from edgetui.core.models.load_plan import loadable

        text = self.store.get_state("model")
        if not isinstance(text, str) or not text:
            return None
        ref = ModelRef.parse(text)
        return ref if loadable(ref, self.config) else None

    def on_session_shown(self, message: SessionShown) -> None:
        self.remember("last_session", message.session_id)

    def on_catalog_pane_sorted(self, message: CatalogPane.Sorted) -> None:
        self.remember("catalog_sort", message.key)

    def on_catalog_pane_hub_requested(self, message: CatalogPane.HubRequested) -> None:
        self.action_hub()

    def on_catalog_pane_delete_requested(self, message: CatalogPane.DeleteRequested) -> None:
        self.delete_model(message.item)

    def on_download_finished(self, message: DownloadFinished) -> None:
        """A model downloaded from the Hub is in the catalog now, highlighted."""
        self.catalog.rescan(focus=message.path)

    async def _reopen_last_session(self) -> None:
        session_id = self.store.get_state("last_session")
        if not isinstance(session_id, int):
            return
        session = self.store.get_session(session_id)
        if session is None or session.kind != "chat":
            return
        try:
            conv = Conversation.open(self.store, session_id)
        except StoreError:
            return
        await self.chat.open_session(conv)

    # -- models: loading (ModelLoader, in a thread worker), the fit check, deleting ------------------
    @property
    def engine(self) -> Engine:
        """The engine in use: the injected local one, or an OpenAIEngine once a remote model is loaded."""
        return self.loader.engine

    def fit_resources(self) -> Resources:
        """The memory the fit check sees: `fit_resources_override` (tests), else the machine's."""
        if self.fit_resources_override is not None:
            return self.fit_resources_override
        from edgetui.core.models.fit import probe_resources

        return probe_resources()

    def load_options(self, header: GGUFHeader | None = None, resources: Resources | None = None) -> LoadOptions:
        """The config's load settings, n_gpu_layers -2 (auto) resolved with the fit estimate (0 without a GPU)."""
        return self.loader.options(header, resources)

    def scan_models(self) -> None:
        self.catalog.rescan()

    def action_rescan_models(self) -> None:
        self.catalog.rescan()

    def action_hub(self) -> None:
        from edgetui.ui.catalog.hub_screen import HubScreen

        self.push_screen(HubScreen(fit_resources=self.fit_resources))

    def on_catalog_pane_model_chosen(self, message: CatalogPane.ModelChosen) -> None:
        if self.chat.generating:
            self.notify("Stop the answer first (Esc).", severity="warning")
            return
        self.load_model(message.path)

    def load_model(self, model: ModelRef | Path | str, confirmed: bool = False) -> None:
        """Load in a worker: a local file after its fit check (asks when it does not fit), or an endpoint's model."""
        ref = ModelRef.parse(model)
        self.chat.set_status(f"Loading {ref.name} …")
        self.catalog.set_status(f"Loading {ref.name}…")
        self.loader.load(ref, confirmed)

    def on_load_needs_confirm(self, message: LoadNeedsConfirm) -> None:
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        est, ref = message.estimate, ModelRef.parse(message.path)

        def answered(ok: bool | None) -> None:
            if ok:
                self.load_model(ref, confirmed=True)
            else:
                self.chat.set_status(f"Not loaded: {ref.name} does not fit ({est.reason}).", warn=True)
                self.catalog.show_highlighted()

        dialog = ConfirmDialog("Model does not fit", confirm_question(ref, est), yes="Load anyway", no="Cancel")
        self.push_screen(dialog, answered)

    def on_model_ready(self, message: ModelReady) -> None:
        info, est = message.info, message.estimate
        self.loader.engine = message.engine
        self.last_fit_line = message.fit_line
        self.sub_title = visible(info.name)  # (a file name: anything but / and NUL)
        self.catalog.mark_loaded(info.path, message.fit_line)
        self.gauges.show_model(info, kv_bytes=(est.kv_cpu + est.kv_gpu) if est is not None else None)
        self.chat.refresh_status()
        self.chat.measure_context()  # (a session opened before the model was there: its context is counted now)
        self.main_screen.focus_prompt()  # (chosen in the catalog: the next thing to do is to type)
        self.remember("model", str(info.path))  # loaded again at the next start
        self.notify(loaded_text(info, message.fit_line), timeout=6, markup=False)
        if message.note:
            self.notify(message.note, severity="warning", timeout=8, markup=False)
        if info.chat_template_note:  # said once, where it stays: in the conversation
            self.call_later(self.chat.add_notice, info.chat_template_note)

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.chat.set_status(f"Could not load the model: {message.error}", warn=True)
        self.catalog.show_highlighted()
        self.notify(message.error, title="Model not loaded", severity="error", timeout=15, markup=False)

    @work(exclusive=True, group="delete")
    async def delete_model(self, item: CatalogEntry | RemoteRow) -> None:
        """Ask, then delete the file(s) of a catalog row and rescan; refusals are explained."""
        import asyncio

        from edgetui.core.models.default import default_model_path
        from edgetui.core.models.delete_plan import REMOTE_REFUSAL, DeletionPlan, delete_refusal
        from edgetui.ui.dialogs.confirm_dialog import ConfirmDialog

        if isinstance(item, CatalogEntry):
            info = self.engine.info
            loaded = info is not None and self.catalog.find(info.path) is item
            refusal = delete_refusal(item, loaded=loaded, default=default_model_path())
        else:
            refusal = REMOTE_REFUSAL
        if refusal or not isinstance(item, CatalogEntry):
            self.notify(refusal, title="Not deleted", severity="warning", timeout=8, markup=False)
            return
        plan = await asyncio.to_thread(DeletionPlan.for_entry, item)
        if isinstance(plan, str):
            self.notify(plan, title="Not deleted", severity="warning", timeout=10, markup=False)
            return
        if not await self.push_screen_wait(ConfirmDialog("Delete model", plan.question, yes="Delete")):
            return
        try:
            await asyncio.to_thread(plan.run)
        except Exception as exc:
            self.notify(f"Could not delete {item.name}: {exc}", severity="error", timeout=10, markup=False)
        else:
            self.notify(f"Deleted {item.name}.", timeout=4, markup=False)
        self.catalog.rescan()

    # -- panes --------------------------------------------------------------------------------------
    @property
    def chat(self) -> ChatPane:
        return self.main_screen.query_one(ChatPane)

    @property
    def gauges(self) -> GaugePane:
        return self.main_screen.query_one(GaugePane)

    @property
    def catalog(self) -> CatalogPane:
        return self.main_screen.query_one(CatalogPane)

    def action_toggle_pane(self, pane: str) -> None:
        widget = self.main_screen.query_one(f"#{pane}")
        widget.display = not widget.display

    def action_interrupt(self) -> None:
        """Ctrl+C: stop the answer (like llama.cpp's CLI); else copy the selection; else say how to quit."""
        from edgetui.ui.compare.compare_screen import CompareScreen

        if isinstance(self.screen, CompareScreen) and self.screen.stop():
            self.notify("Stopped: the partial answers are kept.", timeout=3)
            return
        if self.chat.stop():
            self.notify("Stopped: the partial answer is kept. Ctrl+Q quits.", timeout=3)
            return
        if self.copy_selection():
            return
        self.notify("Press Ctrl+Q to quit (Ctrl+C stops an answer).", timeout=3)

    def copy_selection(self) -> bool:
        """Copy what is selected (text selected with the mouse on the screen, or in the focused text box) to the
        clipboard with OSC 52, which works over SSH; False when nothing is selected."""
        text = self.screen.get_selected_text() or getattr(self.focused, "selected_text", "")
        if not text:
            return False
        self.copy_to_clipboard(text)
        self.notify(f"Copied {len(text)} characters to the clipboard.", timeout=2)
        return True

    def on_text_selected(self) -> None:
        """A mouse selection is copied as soon as it is made, as in a terminal."""
        self.copy_selection()

    def _install_signal_handlers(self) -> None:
        """A dropped SSH link (SIGHUP) or a polite kill (SIGTERM): stop the answer, save it, then exit.

        The handler is a plain `signal.signal` one, not the event loop's: when the terminal is gone for good, Textual's
        writes to it can block the UI thread forever, and a loop handler would then never run. So the handler asks the
        loop to exit cleanly and also starts a watchdog thread that, once the answer is saved, ends the process if
        the clean exit has not happened within a few seconds.
        """
        import asyncio
        import signal

        loop = asyncio.get_running_loop()

        def on_signal(signum: int, frame: object) -> None:
            saved = None
            try:  # this runs between any two bytecodes of the UI thread: it must never raise
                self.chat.stop()  # sets the worker's cancel event: safe from any thread
                saved = self.chat.answer_saved
                loop.call_soon_threadsafe(self._hang_up)
            except Exception:
                pass
            threading.Thread(target=self._hang_up_watchdog, args=(signum, saved), name="hang-up", daemon=True).start()

        for sig in (signal.SIGHUP, signal.SIGTERM):
            try:
                self._old_signal_handlers[sig] = signal.signal(sig, on_signal)
            except (ValueError, OSError):  # not the main thread, or a platform without the signal
                pass
        if not self.is_headless and signal.SIGHUP in self._old_signal_handlers:
            unmounted = self._unmounted
            threading.Thread(target=self._watch_terminal, args=(unmounted,), name="tty-watch", daemon=True).start()

    @staticmethod
    def _watch_terminal(unmounted: threading.Event) -> None:
        """Some hang-ups bring no SIGHUP (a tmux server killed while `make run` runs in it: make does not pass it on).
        Once the terminal is gone, this sends the SIGHUP itself; a thread, as the UI thread may be stuck writing."""
        import os
        import signal
        import sys

        try:
            fd = sys.__stdin__.fileno()
        except (AttributeError, ValueError, OSError):
            return
        if not os.isatty(fd):
            return
        while not unmounted.wait(TTY_CHECK_S):
            if not os.isatty(fd):  # a hung-up terminal answers no terminal request any more
                os.kill(os.getpid(), signal.SIGHUP)
                return

    def on_unmount(self) -> None:
        import gc
        import signal

        self._unmounted.set()
        self.writes.close(timeout=2.0)  # (what it still holds after that is only not remembered)
        if self.store.unsaved:  # a last try at quitting (run_tui rescues what still fails into a file)
            try:
                self.store.save_unsaved()
            except StoreError:
                pass
        gc.unfreeze()  # another app in this process (the tests, the bench) starts from a normal collector
        for sig, handler in self._old_signal_handlers.items():
            if handler is not None:  # None: a handler set outside Python, which cannot be put back
                signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old_signal_handlers.clear()

    @staticmethod
    def _hang_up_watchdog(signum: int, answer_saved: threading.Event | None) -> None:
        import os
        import time

        if answer_saved is not None:
            answer_saved.wait(HANG_UP_SAVE_S)
        time.sleep(HANG_UP_GRACE_S)
        os._exit(128 + signum)  # only reached when the UI thread is stuck on a dead terminal; the answer is saved

    def _hang_up(self) -> None:
        if self.chat.stop():
            self._exit_when_saved = True
            self.set_timer(3.0, self.exit)  # in case the answer never finishes
        else:
            self.exit()

    def action_stop(self) -> None:
        """Esc: stop the answer; else leave editing; else back to the prompt (from a message, the catalog)."""
        if not self.chat.stop() and not self.chat.cancel_edit() and self.screen is self.main_screen:
            self.main_screen.focus_prompt()

    async def action_new_session(self) -> None:
        await self.chat.new_session(self.new_conversation())
        self.main_screen.focus_prompt()  # wherever the focus was (the catalog, a message): the next prompt is typed
        self.notify("New chat session.", timeout=2)

    async def action_regenerate(self) -> None:
        await self.chat.regenerate()

    async def action_edit(self) -> None:
        chat = self.chat
        view = chat.focused_message()
        await chat.edit(view if view is not None and view.role == "user" else chat.last_view("user"))

    def action_copy_answer(self) -> None:
        self.chat.copy(self.chat.last_view("assistant"))

    def action_help(self) -> None:
        from edgetui.ui.dialogs.help_screen import HelpScreen, files_markdown

        where = files_markdown(  # (paths from the environment: shown literally)
            [
                ("data", str(self.paths.data_dir)),
                ("models", str(self.paths.models_dir)),
                ("sessions database", str(self.store.path or "in memory (not saved)")),
                ("config", str(self.paths.config_file)),
            ]
        )
        self.push_screen(HelpScreen(where))

    @work
    async def action_settings(self) -> None:
        """The session's settings; "Save as default" also makes them what new sessions start with (kept in the
        database, in place of config.toml's system_prompt and [sampler])."""
        from edgetui.ui.dialogs.settings_dialog import SettingsDialog

        conv = self.chat.conv
        chosen = await self.push_screen_wait(SettingsDialog(conv.system_prompt, conv.sampler))
        if chosen is None:
            return
        try:
            conv.set_settings(chosen.system_prompt, chosen.sampler)
        except StoreError as exc:
            self.notify(f"Settings not saved: {exc}", severity="error", markup=False)
            return
        if not chosen.as_default:
            self.notify("Settings saved for this session.", timeout=2)
            return
        self.system_prompt, self.sampler = chosen.system_prompt, chosen.sampler
        try:
            self.store.set_state("defaults", {"system_prompt": self.system_prompt, "sampler": self.sampler.as_dict()})
        except StoreError as exc:
            self.notify(f"Defaults used until you quit, not saved: {exc}", severity="warning", markup=False)
            return
        self.notify("Saved for this session and as the default for new sessions.", timeout=3)

    def action_compare(self) -> None:
        from edgetui.ui.compare.compare_screen import CompareScreen

        if not isinstance(self.screen, CompareScreen):
            self.push_screen(CompareScreen(host=self))

    def action_bench(self) -> None:
        from edgetui.ui.screens.bench_screen import BenchScreen

        loaded, busy = (lambda: self.engine.info), (lambda: self.chat.generating)
        self.push_screen(BenchScreen(self.store, loaded, threads=self.config.threads, busy=busy))

    def action_sessions(self) -> None:
        from edgetui.ui.screens.sessions_screen import SessionsScreen

        self.push_screen(SessionsScreen(self.store, self.paths.data_dir / "exports"), self._session_chosen)

    async def _session_chosen(self, session_id: int | None) -> None:
        if session_id is None:
            return
        session = self.store.get_session(session_id)
        if session is not None and session.kind == "compare":
            from edgetui.ui.compare.compare_screen import CompareScreen

            self.push_screen(CompareScreen(session_id=session_id, host=self))
            return
        try:
            conv = Conversation.open(self.store, session_id)
        except Exception as exc:
            self.notify(f"Could not open the session: {exc}", severity="error")
            return
        await self.chat.open_session(conv)
        session = self.store.get_session(session_id)
        info = self.engine.info
        wanted = ModelRef.parse(session.model_path) if session and session.model_path else None
        if wanted is not None and (info is None or ModelRef.parse(info.path) != wanted):
            from edgetui.core.models.load_plan import loadable

            if loadable(wanted, self.config):
                self.notify(f"Reloading this session's model, {wanted.name}.", timeout=3)
                self.load_model(wanted)
            else:
                self.notify(
                    f"This session's model {wanted.name} is not available any more; keeping the current one.",
                    severity="warning",
                    timeout=8,
                )

    # -- gauges -------------------------------------------------------------------------------------
    def _say_when_the_database_waits(self) -> None:
        """A write that has waited over WAITING_SAID_S for the file: another process holds it locked. Said once a
        wait (the chat goes on meanwhile; the answer is kept and saved when the lock is let go)."""
        waiting = self.store.waiting_s > WAITING_SAID_S
        if waiting and not self._said_waiting:
            self.notify(
                "Waiting for the sessions database: another process holds it locked. The chat goes on; what it "
                "holds is saved once the lock is let go.",
                title="Sessions database",
                severity="warning",
                timeout=8,
            )
        self._said_waiting = waiting

    def sample_metrics(self) -> None:
        """A few times a second, on a timer, never on the token path."""
        from textual.css.query import NoMatches

        runner = getattr(self.engine, "pid", None)  # ProcessEngine's runner: its memory and CPU are the app's too
        snap = self.metrics.sample(extra_pids=(runner,) if runner else ())
        try:
            gauges = self.gauges
            gauges.query_one("#g-mem")
        except NoMatches:
            return  # starting or closing: nothing to show the sample on
        gauges.show_memory(snap.rss_bytes, snap.ram_used, snap.ram_total, snap.cpu_percent)
        self._say_when_the_database_waits()
        gauges.show_gpus(list(snap.gpus))
        if self.chat.generating:
            import time

            rate = self.token_rate
            now = time.perf_counter()
            rate.tick(now)  # a stall shows in the sparkline even when no token arrives
            gauges.show_rate(rate.rate(now), rate.smoothed_at(now), list(rate.history))

    def token_rate_start(self) -> None:
        """A new answer starts: its rate from zero, and the gauges no longer show the last answer's figures."""
        import time

        self.token_rate.reset(time.perf_counter())
        gauges = self.gauges
        gauges.show_last(None)
        gauges.show_rate(0.0, 0.0, [])

    def token_rate_add(self, t: float, tokens: int) -> None:
        self.token_rate.add(t, tokens)

    def on_context_measured(self, message: ContextMeasured) -> None:
        gauges = self._shown_gauges()
        if gauges is not None:
            gauges.show_context(message.used, message.n_ctx)

    def on_answer_ended(self, message: AnswerEnded) -> None:
        self.generation_finished(message.stats)

    def _shown_gauges(self) -> GaugePane | None:
        """The gauges, unless the main screen is being taken down (the app closing as an answer ends)."""
        from textual.css.query import NoMatches

        try:
            return self.gauges
        except NoMatches:
            return None

    def generation_finished(self, stats: GenerationStats) -> None:
        gauges = self._shown_gauges()
        if gauges is not None:
            gauges.show_last(stats)
            gauges.show_rate(0.0, self.token_rate.average, list(self.token_rate.history))
        if self._exit_when_saved:
            self.exit()


def create_app(
    config: Config,
    paths: Paths,
    *,
    engine: Engine | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    model_path: ModelRef | Path | str | None = None,
    resume: bool = False,
    reopen_session: bool = True,
    fallback_model: ModelRef | Path | None = None,
) -> EdgeApp:
    """Build the app with its services: llama.cpp (in a child process with `engine_process`) and the sessions DB.
    `resume`, `model_path` and `fallback_model` are EdgeApp's."""
    if store is None:
        store = Store.open(config.db_path(paths))
    engine = engine or make_engine(None, config)
    services = Services(config=config, paths=paths, engine=engine, store=store, metrics=metrics or Metrics())
    return EdgeApp(
        services, model_path=model_path, resume=resume, reopen_session=reopen_session, fallback_model=fallback_model
    )
