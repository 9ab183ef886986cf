"""Start the full-screen app (the default when `edgetui` is run without a subcommand)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgetui.commands.common import fail


def run_tui(args: argparse.Namespace) -> int:
    from edgetui.config import Config, ConfigError
    from edgetui.core.models.default import default_model_path
    from edgetui.core.models.ref import ModelRef
    from edgetui.paths import Paths

    paths = Paths.from_env().ensure()
    try:
        config = Config.load(
            paths,
            model=args.model,
            n_ctx=args.ctx,
            n_threads=args.threads,
            n_gpu_layers=args.gpu_layers,
            db=args.db,
            low_redraw=args.low_redraw,
        )
    except ConfigError as exc:
        return fail(f"bad configuration: {exc}")
    model = ModelRef.parse(config.model) if config.model else None
    default = default_model_path()
    if model is None and default is None:
        print("edgetui: the bundled default model is not installed (run `make setup`); starting without a model.")
    if args.web:
        return _serve_web(args)
    from edgetui.ui.app import create_app

    # `--new`: an empty session (the last one stays saved); the model loaded last time is loaded again either way
    app = create_app(config, paths, model_path=model, resume=True, reopen_session=not args.new, fallback_model=default)
    app.run()
    if app.store.unsaved:
        _rescue(app.store.unsaved_answers(), paths)
    return app.return_code or 0


def _rescue(answers: list[tuple[int, str]], paths: object) -> None:
    """Answers the database never took (the disk stayed full until the end): into a file, wherever one can be
    written, or onto the terminal; never lost without a word."""
    import tempfile
    import time

    from edgetui.core.visible_text import visible

    text = "".join(f"## Answer {mid}\n\n{body}\n\n" for mid, body in answers)
    name = f"edgetui-unsaved-{time.strftime('%Y%m%d-%H%M%S')}.md"
    for folder in (getattr(paths, "data_dir", None), Path.home(), Path(tempfile.gettempdir())):
        if folder is None:
            continue
        target = Path(folder) / name
        try:
            target.write_text(text, encoding="utf-8")
        except OSError:
            continue
        print(f"edgetui: {len(answers)} answer(s) could not be saved in the database; they are in {target}")
        return
    print(f"edgetui: {len(answers)} answer(s) could not be saved anywhere (the disk is full); here they are:\n")
    print(visible(text))


def _serve_web(args: argparse.Namespace) -> int:
    """Serve the TUI in a browser with textual-serve, bound to loopback (reach it through an SSH tunnel)."""
    import shlex
    import sys

    from textual_serve.server import Server

    argv = [a for a in sys.argv[1:] if a != "--web"]
    command = shlex.join([sys.executable, "-m", "edgetui", *argv])
    host = args.web_host
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"edgetui: warning: serving on {host}, not loopback: anyone who can reach it can use your models")
    print(f"edgetui: serving on http://{host}:{args.port} (from afar: ssh -L {args.port}:127.0.0.1:{args.port} HOST)")
    Server(command, host=host, port=args.port).serve()
    return 0
