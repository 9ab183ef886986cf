"""A separate process that writes to the sessions database, for the crash-safety and two-writer tests.

Modes (each prints one JSON line to stdout per event, flushed, after the write is committed):
  fake DB        -- one user message, then an answer whose text grows every --interval seconds, forever
  engine DB      -- the same with a real answer streamed by LlamaEngine on the default model, saved at most
                    once per --interval (default 1 s); when the model ends its answer it is asked again and
                    the new text is appended, so the process is always mid-answer when it is killed
  insert DB      -- wait for --barrier to exist, then add --count messages to a new session, one per transaction
  probe DB       -- open the store, report where it lives and what it holds, then chat in it (read-only tests)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edgetui.core.store.store import Store  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and the sea. Describe every day of his year."


def emit(**event: object) -> None:
    print(json.dumps(event), flush=True)


def start(store: Store, title: str) -> tuple[int, int, int]:
    sid = store.create_session("", "writer", "", {"max_tokens": 256}, title=title)
    uid = store.add_message(sid, "user", PROMPT)
    aid = store.start_answer(sid, uid, model="writer")
    emit(event="started", session=sid, user=uid, answer=aid)
    return sid, uid, aid


def fake(store: Store, interval: float) -> None:
    _, _, aid = start(store, "fake writer")
    text = ""
    i = 0
    while True:
        text += f"word{i} "
        i += 1
        store.update_answer(aid, text)
        emit(event="saved", text=text)
        time.sleep(interval)


def engine(store: Store, interval: float) -> None:
    from edgetui.core.engines.llama import LlamaEngine
    from edgetui.core.models.default import default_model_path
    from edgetui.core.types import ChatMessage, LoadOptions, SamplerSettings

    path = default_model_path()
    if path is None:
        emit(event="error", error="the default model is not installed")
        sys.exit(2)
    llm = LlamaEngine()
    llm.load(path, LoadOptions(n_ctx=1024, n_threads=2))
    _, _, aid = start(store, "engine writer")
    text = ""
    last_save = time.monotonic()
    sampler = SamplerSettings(temperature=0.8, max_tokens=400)
    while True:
        for chunk in llm.stream_chat([ChatMessage("user", PROMPT)], sampler):
            text += chunk.text
            now = time.monotonic()
            if now - last_save >= interval:
                store.update_answer(aid, text)
                last_save = now
                emit(event="saved", text=text)
        text += "\n\n"


def insert(store: Store, count: int, tag: str) -> None:
    sid = store.create_session("", "writer", "", None, title=f"writer {tag}")
    parent = None
    for i in range(count):
        parent = store.add_message(sid, "user" if i % 2 == 0 else "assistant", f"{tag} message {i}", parent)
    emit(event="done", session=sid, count=count)


def probe(store: Store) -> None:
    titles = [s.title for s in store.list_sessions()]
    sid = store.create_session(title="probe")
    store.add_message(sid, "user", "does the chat still work?")
    emit(
        event="probe",
        persistent=store.persistent,
        notice=store.notice,
        titles=titles,
        thread=[m.content for m in store.thread(sid)],
    )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("fake", "engine", "insert", "probe"))
    p.add_argument("db")
    p.add_argument("--interval", type=float, default=None)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--barrier", default=None)
    p.add_argument("--tag", default="w")
    args = p.parse_args()
    if args.mode == "insert" and args.barrier:
        # open only once every writer has started, so that their migrations and inserts really race
        while not Path(args.barrier).exists():
            time.sleep(0.01)
    store = Store.open(args.db)
    if store.notice:
        emit(event="notice", notice=store.notice)
    if args.mode == "fake":
        fake(store, args.interval or 0.2)
    elif args.mode == "engine":
        engine(store, args.interval or 1.0)
    elif args.mode == "probe":
        probe(store)
    else:
        insert(store, args.count, args.tag)
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
