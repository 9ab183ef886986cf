"""The Textual app and its factory: services (engine, settings) are injected, never built at import."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from edgetui.config import Config
from edgetui.core.conversation import Conversation
from edgetui.core.engine import Engine, LlamaEngine
from edgetui.core.metrics import Metrics, TokenRate
from edgetui.core.store import Store
from edgetui.core.types import GenerationStats, SamplerSettings
from edgetui.paths import Paths
from edgetui.ui.model_loading import ModelLoading
from edgetui.ui.screens.main_screen import MainScreen
from edgetui.ui.widgets.catalog_pane import CatalogPane
from edgetui.ui.widgets.chat_pane import ChatPane
from edgetui.ui.widgets.gauge_pane import GaugePane

HANG_UP_SAVE_S = 10.0  # after SIGHUP/SIGTERM: how long the answer being streamed may take to reach the database
HANG_UP_GRACE_S = 3.0  # then how long the clean exit may take before the process ends regardless
TTY_CHECK_S = 1.0  # how often the terminal is checked for a hang-up that brought no SIGHUP


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
    engine: Engine = field(default_factory=LlamaEngine)
    store: Store = field(default_factory=Store.memory)
    metrics: Metrics = field(default_factory=Metrics)


class EdgeApp(ModelLoading, App[None]):
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

    def __init__(self, services: Services, model_path: Path | None = None) -> None:
        super().__init__()
        self.services = services
        self.config = services.config
        self.paths = services.paths
        self.engine: Engine = services.engine
        self.store: Store = services.store
        self.metrics: Metrics = services.metrics
        self.sampler: SamplerSettings = services.config.sampler
        self.model_path = model_path
        self.token_rate = TokenRate()
        self._exit_when_saved = False
        self._old_signal_handlers: dict[int, object] = {}
        self._unmounted = threading.Event()

    CHAT_ACTIONS = frozenset({"new_session", "regenerate", "edit", "settings", "copy_answer"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Chat keys act only while the chat is on screen (not under the compare or sessions screens)."""
        return action not in self.CHAT_ACTIONS or self.screen is getattr(self, "main_screen", None)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for title, help_text, action in self.PALETTE_ACTIONS:
            yield SystemCommand(title, help_text, lambda a=action: self.call_later(self.run_action, a))

    def new_conversation(self) -> Conversation:
        return Conversation(self.store, system_prompt=self.config.system_prompt, sampler=self.sampler)

    def on_mount(self) -> None:
        self.main_screen = MainScreen(self.new_conversation())
        self.push_screen(self.main_screen)
        if self.config.low_redraw:
            self.animation_level = "none"
        self._install_signal_handlers()
        self.call_after_refresh(self._after_start)
        if self.store.notice:
            self.notify(self.store.notice, title="Sessions database", severity="warning", timeout=20)

    def _after_start(self) -> None:
        import gc

        # What start-up made (widgets, styles, imported modules) lives as long as the app: out of the collector's
        # reach, a full collection no longer walks it while an answer streams (measured: up to 37 ms with the GIL
        # held, which stalls the token loop).
        gc.freeze()
        self.scan_models()
        if self.model_path is not None:
            self.load_model(self.model_path)
        self.set_interval(0.5, self.sample_metrics)

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
        """Ctrl+C: stop the answer (like llama.cpp's CLI); copy a selection in the prompt; else say how to quit."""
        from edgetui.ui.screens.compare_screen import CompareScreen

        if isinstance(self.screen, CompareScreen) and self.screen.stop():
            self.notify("Stopped: the partial answers are kept.", timeout=3)
            return
        if self.chat.stop():
            self.notify("Stopped: the partial answer is kept. Ctrl+Q quits.", timeout=3)
            return
        focused = self.focused
        selected = getattr(focused, "selected_text", "")
        if selected:
            self.copy_to_clipboard(selected)
            return
        self.notify("Press Ctrl+Q to quit (Ctrl+C stops an answer).", timeout=3)

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
        if not self.chat.stop():
            self.chat.cancel_edit()

    async def action_new_session(self) -> None:
        await self.chat.new_session()
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
        from edgetui.ui.screens.help_screen import HelpScreen

        where = (
            f"- data: `{self.paths.data_dir}`\n- models: `{self.paths.models_dir}`\n"
            f"- sessions database: `{self.store.path or 'in memory (not saved)'}`\n"
            f"- config: `{self.paths.config_file}`"
        )
        self.push_screen(HelpScreen(where))

    @work
    async def action_settings(self) -> None:
        from edgetui.ui.screens.settings_dialog import SettingsDialog

        conv = self.chat.conv
        result = await self.push_screen_wait(SettingsDialog(conv.system_prompt, conv.sampler))
        if result is None:
            return
        system_prompt, sampler = result
        try:
            conv.set_settings(system_prompt, sampler)
        except Exception as exc:
            self.notify(f"Settings not saved: {exc}", severity="error")
        self.sampler = sampler
        self.notify("Settings saved for this session.", timeout=2)

    def action_compare(self) -> None:
        from edgetui.ui.screens.compare_screen import CompareScreen

        if not isinstance(self.screen, CompareScreen):
            self.push_screen(CompareScreen())

    def action_bench(self) -> None:
        from edgetui.ui.screens.bench_screen import BenchScreen

        self.push_screen(BenchScreen())

    def action_sessions(self) -> None:
        from edgetui.ui.screens.sessions_screen import SessionsScreen

        self.push_screen(SessionsScreen(self.store), self._session_chosen)

    async def _session_chosen(self, session_id: int | None) -> None:
        if session_id is None:
            return
        session = self.store.get_session(session_id)
        if session is not None and session.kind == "compare":
            from edgetui.ui.screens.compare_screen import CompareScreen

            self.push_screen(CompareScreen(session_id=session_id))
            return
        try:
            conv = Conversation.open(self.store, session_id)
        except Exception as exc:
            self.notify(f"Could not open the session: {exc}", severity="error")
            return
        self.sampler = conv.sampler
        await self.chat.open_session(conv)
        session = self.store.get_session(session_id)
        info = self.engine.info
        if session and session.model_path and (info is None or str(info.path) != session.model_path):
            from edgetui.core.openai_engine import REMOTE_PREFIX

            remote = session.model_path.startswith(REMOTE_PREFIX)
            model = Path(session.model_path)
            if (remote and self.endpoint_for(session.model_path) is not None) or (not remote and model.is_file()):
                self.notify(f"Reloading this session's model, {model.name}.", timeout=3)
                self.load_model(session.model_path if remote else model)
            else:
                self.notify(
                    f"This session's model {model.name} is not available any more; keeping the current one.",
                    severity="warning",
                    timeout=8,
                )

    # -- gauges -------------------------------------------------------------------------------------
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
        gauges.show_gpus(list(snap.gpus))
        if self.chat.generating:
            import time

            rate = self.token_rate
            now = time.perf_counter()
            rate.tick(now)  # a stall shows in the sparkline even when no token arrives
            gauges.show_rate(rate.rate(now), rate.smoothed_at(now), list(rate.history))

    def token_rate_start(self) -> None:
        import time

        self.token_rate.reset(time.perf_counter())

    def token_rate_add(self, t: float, tokens: int) -> None:
        self.token_rate.add(t, tokens)

    def generation_finished(self, stats: GenerationStats) -> None:
        self.gauges.show_last(stats)
        self.gauges.show_rate(0.0, self.token_rate.average, list(self.token_rate.history))
        if self._exit_when_saved:
            self.exit()


def create_app(
    config: Config,
    paths: Paths,
    *,
    engine: Engine | None = None,
    store: Store | None = None,
    metrics: Metrics | None = None,
    model_path: Path | None = None,
) -> EdgeApp:
    """Build the app with its services: llama.cpp (in a child process with `engine_process`) and the sessions DB."""
    if store is None:
        store = Store.open(config.db_path(paths))
    if engine is None and config.engine_process:
        from edgetui.core.process_engine import ProcessEngine

        engine = ProcessEngine()
    engine = engine or LlamaEngine()
    services = Services(config=config, paths=paths, engine=engine, store=store, metrics=metrics or Metrics())
    return EdgeApp(services, model_path=model_path)
