"""Conversation without the UI: a real SQLite file, a scripted engine; turns, streaming and saving, branching
(regenerate, edit), settings, leaving the oldest turns out, a full disk, and reopening a session."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from edgetui.core.chat.answer_saver import AnswerSaver
from edgetui.core.chat.conversation import Conversation
from edgetui.core.engines.llama import Generation
from edgetui.core.store.store import Store, StoreError
from edgetui.core.types import (
    ChatMessage,
    Chunk,
    EngineError,
    GenerationStats,
    ModelInfo,
    SamplerSettings,
    StopReason,
)
from tests.pty_app import wait_until


class ScriptedEngine:
    """Streams `pieces` as chunks stamped the given seconds after the answer starts (time does not really pass),
    then raises `fail` when set; `during(i)` runs before chunk i is handed out (to look at the database then)."""

    def __init__(
        self,
        pieces: Sequence[tuple[str, float]] = (("Hello", 0.0), (" there.", 0.01)),
        fail: BaseException | None = None,
        during: Callable[[int], None] | None = None,
    ) -> None:
        self.pieces, self.fail, self.during = list(pieces), fail, during
        self.requests: list[list[ChatMessage]] = []
        self.info = ModelInfo(path=Path("/m/scripted.gguf"), name="scripted", n_ctx=2048, quant="Q4_1")

    def stream_chat(
        self, messages: Sequence[ChatMessage], sampler: SamplerSettings, cancel: threading.Event | None = None
    ) -> Generation:
        self.requests.append(list(messages))

        def produce(stats: GenerationStats) -> Iterator[Chunk]:
            t0 = time.perf_counter()
            for i, (text, t) in enumerate(self.pieces):
                if cancel is not None and cancel.is_set():
                    stats.stop_reason = StopReason.CANCELLED
                    return
                if self.during:
                    self.during(i)
                stats.gen_tokens += 1
                yield Chunk(text, t0 + t)
            if self.fail is not None:
                raise self.fail
            stats.gen_tps, stats.ttft_s = 42.0, 0.05

        return Generation(produce)


def words(text: str, step: float = 0.0) -> list[tuple[str, float]]:
    return [(w if i == 0 else f" {w}", i * step) for i, w in enumerate(text.split(" "))]


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "edgetui.db")
    yield s
    s.close()


def turn(conv: Conversation, prompt: str, reply: str, **kw) -> int:
    conv.add_user(prompt, **kw)
    answer_id = conv.begin_answer("scripted")
    conv.stream_answer(ScriptedEngine(words(reply)), answer_id, threading.Event())
    return answer_id


def contents(conv: Conversation) -> list[str]:
    return [m.content for m in conv.thread]


# -- a turn ----------------------------------------------------------------------------------------------------
def test_a_turn_is_saved_with_its_run_and_the_session_made_with_the_settings(store: Store) -> None:
    sampler = SamplerSettings.greedy(max_tokens=32)
    conv = Conversation(store, system_prompt="Be brief.", sampler=sampler)
    assert conv.session_id is None and conv.turns() == 0
    uid = conv.add_user("Hi?", model_path="/m/scripted.gguf", model_name="scripted")
    sid = conv.session_id
    assert sid is not None
    session = store.get_session(sid)
    assert (session.title, session.system_prompt, session.model_name) == ("Hi?", "Be brief.", "scripted")
    assert SamplerSettings().updated(session.sampler) == sampler
    answer_id = conv.begin_answer("scripted")
    assert store.message(answer_id).status == "streaming" and store.message(answer_id).parent_id == uid
    engine = ScriptedEngine(words("Hello to you."))
    seen: list[str] = []
    answer = conv.stream_answer(engine, answer_id, threading.Event(), lambda text, n, t: seen.append(text))
    assert engine.requests == [[ChatMessage("system", "Be brief."), ChatMessage("user", "Hi?")]]  # no empty answer
    assert answer.text == "".join(seen) == "Hello to you." and answer.save_error == "" and conv.save_error == ""
    assert answer.stats.stop_reason == StopReason.EOS and answer.message_id == answer_id
    saved = store.message(answer_id)
    assert (saved.content, saved.status) == ("Hello to you.", "complete")
    [run] = store.runs(message_id=answer_id)
    assert run["id"] == answer.run_id and run["model_name"] == "scripted" and run["gen_tokens"] == 3
    assert [(m.role, m.content, m.status) for m in conv.thread] == [
        ("user", "Hi?", "complete"),
        ("assistant", "Hello to you.", "complete"),
    ]
    assert conv.turns() == 1
    assert conv.model_messages([ChatMessage("user", "next")])[-1] == ChatMessage("user", "next")


def test_text_reaches_the_screen_in_batches_and_the_database_about_once_a_second(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    conv = Conversation(store)
    conv.add_user("Count.")
    answer_id = conv.begin_answer()
    offered: list[str] = []

    class Saver(AnswerSaver):
        def offer(self, text: str) -> None:
            offered.append(text)
            super().offer(text)

    monkeypatch.setattr("edgetui.core.chat.conversation.AnswerSaver", Saver)
    pieces = [(f"{i} ", i * 0.25) for i in range(10)]  # one piece every 0.25 s, for 2.25 s
    batches: list[tuple[str, int]] = []
    on_text = lambda text, n, t: batches.append((text, n))  # noqa: E731
    answer = conv.stream_answer(ScriptedEngine(pieces), answer_id, threading.Event(), on_text, flush_s=0.45,
                                save_every_s=0.9)  # fmt: skip
    assert answer.text == "".join(p for p, _ in pieces)
    assert "".join(b for b, _ in batches) == answer.text
    assert [n for _, n in batches] == [3, 2, 2, 2, 1]  # at 0.5 s, 1.0 s, 1.5 s, 2.0 s, and the rest at the end
    # what was handed to the database on the way: the text at 1.0 s and at 2.0 s; then the whole answer
    assert offered == ["0 1 2 3 4 ", "0 1 2 3 4 5 6 7 8 "]
    assert store.message(answer_id).content == answer.text


def test_a_locked_database_never_holds_up_the_stream_and_the_answer_is_saved_once_it_is_free(
    tmp_path: Path,
) -> None:
    """Another process holds the write lock while the answer streams: the periodic saves wait on their own
    thread (the stream reaches its last piece with the lock still held), and the final save goes through once
    the lock is let go."""
    store = Store.open(tmp_path / "locked.db")
    conv = Conversation(store)
    conv.add_user("Count.")
    answer_id = conv.begin_answer()
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None, timeout=30)
    other.execute("BEGIN IMMEDIATE")  # (another edgetui writing, a backup tool...)
    stream_thread: list[str] = []
    held_at_end: list[bool] = []
    save_threads: list[str] = []
    update = store.update_answer

    def spy(message_id: int, text: str) -> None:
        save_threads.append(threading.current_thread().name)
        update(message_id, text)

    store.update_answer = spy  # type: ignore[method-assign]

    def during(i: int) -> None:
        stream_thread[:] = [threading.current_thread().name]
        if i == 9:
            held_at_end.append(other.in_transaction)
            wait_until(lambda: save_threads, 30, what="a periodic save to be under way (waiting for the lock)")
            other.execute("COMMIT")  # the other process is done: the final save can go through

    pieces = [(f"{i} ", i * 0.3) for i in range(10)]
    answer = conv.stream_answer(ScriptedEngine(pieces, during=during), answer_id, threading.Event(), save_every_s=1.0)
    assert held_at_end == [True]  # the stream got to its end while the database was locked
    assert save_threads and all(name != stream_thread[0] for name in save_threads)
    assert answer.text == "".join(p for p, _ in pieces) and answer.save_error == ""
    assert store.message(answer_id).content == answer.text and store.message(answer_id).status == "complete"
    other.close()


def test_a_late_periodic_save_never_overwrites_the_final_answer(store: Store) -> None:
    conv = Conversation(store)
    conv.add_user("Go.")
    answer_id = conv.begin_answer()
    store.finish_answer(answer_id, "the whole answer")
    store.update_answer(answer_id, "the whole")  # (a periodic save that waited for a lock)
    assert store.message(answer_id).content == "the whole answer"


def test_a_failing_engine_keeps_the_text_so_far_and_marks_the_answer(store: Store) -> None:
    conv = Conversation(store)
    for fail, error in ((EngineError("the model ran out of memory"), "the model ran out of memory"),
                        (ValueError("odd"), "ValueError: odd")):  # fmt: skip
        conv.add_user("Go.")
        answer_id = conv.begin_answer()
        answer = conv.stream_answer(ScriptedEngine(words("partial text"), fail=fail), answer_id, threading.Event())
        assert answer.text == "partial text"
        assert answer.stats.stop_reason == StopReason.ERROR and answer.stats.error == error
        assert (store.message(answer_id).content, store.message(answer_id).status) == ("partial text", "error")
        assert conv.thread[-1].status == "error"


def test_a_cancelled_answer_is_stopped_and_an_empty_failed_one_is_left_out_of_the_context(store: Store) -> None:
    conv = Conversation(store)
    conv.add_user("Go.")
    answer_id = conv.begin_answer()
    cancel = threading.Event()
    cancel.set()
    answer = conv.stream_answer(ScriptedEngine(), answer_id, cancel)
    assert answer.text == "" and answer.stats.stop_reason == StopReason.CANCELLED
    assert store.message(answer_id).status == "stopped"
    conv.add_user("Again.")
    failed = conv.begin_answer()
    conv.stream_answer(ScriptedEngine([], fail=EngineError("boom")), failed, threading.Event())
    assert store.message(failed).status == "error"
    assert conv.model_messages() == [ChatMessage("user", "Go."), ChatMessage("user", "Again.")]


# -- branching -------------------------------------------------------------------------------------------------
def test_regenerate_makes_a_sibling_answer_and_both_can_be_shown(store: Store) -> None:
    conv = Conversation(store)
    turn(conv, "First?", "One.")
    first = turn(conv, "Second?", "Two.")
    user2 = conv.thread[-2].id
    assert conv.regenerate_point() == user2 and contents(conv) == ["First?", "One.", "Second?"]
    again = conv.begin_answer()
    engine = ScriptedEngine(words("Two, again."))
    conv.stream_answer(engine, again, threading.Event())
    assert engine.requests[0][-1] == ChatMessage("user", "Second?")  # the old answer is not in the context
    assert contents(conv) == ["First?", "One.", "Second?", "Two, again."]
    assert conv.branches(again) == (2, 2) and conv.branches(first) == (1, 2)
    assert conv.branches(conv.thread[0].id) == (1, 1)
    assert conv.switch_branch(again, -1) and contents(conv)[-1] == "Two."
    assert not conv.switch_branch(first, -1)  # nothing before the first
    assert conv.switch_branch(first, +1) and contents(conv)[-1] == "Two, again."
    assert not conv.switch_branch(again, +1)
    assert len(store.messages(conv.session_id)) == 5  # nothing was deleted


def test_editing_a_message_starts_a_branch_there_and_the_old_one_stays(store: Store) -> None:
    conv = Conversation(store)
    turn(conv, "Name a fruit.", "Apple.")
    turn(conv, "Another one.", "Pear.")
    turn(conv, "And a third.", "Plum.")
    old_user = conv.thread[2]
    parent, text = conv.edit_point(old_user.id)
    assert (parent, text) == (conv.thread[-1].id, "Another one.") and contents(conv) == ["Name a fruit.", "Apple."]
    new_user = conv.add_user("Another, but red.", parent_id=parent)
    conv.stream_answer(ScriptedEngine(words("Cherry.")), conv.begin_answer(), threading.Event())
    assert contents(conv) == ["Name a fruit.", "Apple.", "Another, but red.", "Cherry."]
    assert conv.branches(new_user) == (2, 2)
    # the old branch comes back whole: the latest leaf under the old message
    assert conv.switch_branch(new_user, -1)
    assert contents(conv) == ["Name a fruit.", "Apple.", "Another one.", "Pear.", "And a third.", "Plum."]
    with pytest.raises(StoreError, match="not in this conversation"):
        conv.edit_point(10_000)


def test_editing_the_first_message_and_a_new_root(store: Store) -> None:
    conv = Conversation(store)
    turn(conv, "Hello.", "Hi.")
    first = conv.thread[0].id
    parent, text = conv.edit_point(first)
    assert (parent, text, conv.thread) == (None, "Hello.", [])
    root = conv.add_user("Good day.", parent_id=parent)
    assert contents(conv) == ["Good day."] and conv.branches(root) == (2, 2)
    assert conv.switch_branch(root, -1) and contents(conv) == ["Hello.", "Hi."]


# -- settings, the oldest turns, reopening ---------------------------------------------------------------------
def test_settings_are_kept_once_there_is_a_session_and_a_reopened_conversation_has_them(store: Store) -> None:
    conv = Conversation(store)
    sampler = SamplerSettings(temperature=0.3, top_k=7, max_tokens=99)
    conv.set_settings("You are terse.", sampler)  # no session yet: only in memory
    conv.set_drop_oldest(True)
    assert store.list_sessions() == []
    turn(conv, "Hi.", "Hello.")
    sid = conv.session_id
    assert store.get_session(sid).system_prompt == "You are terse."
    conv.set_settings("You are verbose.", SamplerSettings.greedy(max_tokens=5))
    conv.set_drop_oldest(True)
    turn(conv, "More.", "Much more.")
    again = Conversation.open(store, sid)
    assert again.system_prompt == "You are verbose." and again.sampler == SamplerSettings.greedy(max_tokens=5)
    assert again.drop_oldest is True and again.skip_turns == 0
    assert contents(again) == ["Hi.", "Hello.", "More.", "Much more."] and again.turns() == 2
    assert [m.id for m in again.thread] == [m.id for m in conv.thread]
    conv.set_drop_oldest(False)
    assert Conversation.open(store, sid).drop_oldest is False
    with pytest.raises(StoreError, match="no session 12345"):
        Conversation.open(store, 12345)


def test_a_reopened_conversation_continues_the_branch_it_was_on(store: Store, tmp_path: Path) -> None:
    conv = Conversation(store)
    turn(conv, "A?", "a.")
    conv.regenerate_point()
    conv.stream_answer(ScriptedEngine(words("b.")), conv.begin_answer(), threading.Event())
    first = conv.thread[-1].id
    conv.switch_branch(first, -1)  # back to "a."
    store.close()
    reopened = Store.open(tmp_path / "edgetui.db")
    try:
        conv = Conversation.open(reopened, conv.session_id)
        assert contents(conv) == ["A?", "a."]
        engine = ScriptedEngine(words("c."))
        turn_id = conv.add_user("Then?")
        conv.stream_answer(engine, conv.begin_answer(), threading.Event())
        assert engine.requests[0] == [ChatMessage("user", "A?"), ChatMessage("assistant", "a."),
                                      ChatMessage("user", "Then?")]  # fmt: skip
        assert reopened.message(turn_id).parent_id == conv.thread[1].id
    finally:
        reopened.close()


def test_the_oldest_turns_can_be_left_out_of_the_context_but_stay_in_the_thread(store: Store) -> None:
    conv = Conversation(store, system_prompt="sys")
    for i in range(3):
        turn(conv, f"q{i}", f"a{i}")
    assert conv.unseen_ids() == set()
    conv.skip_turns = 2
    assert conv.model_messages() == [ChatMessage("system", "sys"), ChatMessage("user", "q2"),
                                     ChatMessage("assistant", "a2")]  # fmt: skip
    assert conv.unseen_ids() == {m.id for m in conv.thread[:4]}
    assert contents(conv) == ["q0", "a0", "q1", "a1", "q2", "a2"]
    engine = ScriptedEngine()
    conv.add_user("q3")
    conv.stream_answer(engine, conv.begin_answer(), threading.Event())
    assert [m.content for m in engine.requests[0]] == ["sys", "q2", "a2", "q3"]
    conv.skip_turns = 10  # more than there are: only the system prompt is left
    assert conv.model_messages() == [ChatMessage("system", "sys")]
    assert conv.unseen_ids() == {m.id for m in conv.thread}


# -- a full disk -------------------------------------------------------------------------------------------------
def test_an_answer_the_disk_cannot_take_is_kept_and_saved_by_the_next_turn(store: Store) -> None:
    conv = Conversation(store)
    turn(conv, "Warm up.", "ok")
    conv.add_user("A long one.")
    answer_id = conv.begin_answer()
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # the file cannot grow: SQLITE_FULL
    long = " ".join(f"word{i}" for i in range(40_000))
    answer = conv.stream_answer(ScriptedEngine(words(long)), answer_id, threading.Event())
    assert answer.text == long and "disk is full" in answer.save_error and conv.save_error == answer.save_error
    assert answer.run_id is None and store.unsaved == 1
    assert contents(conv)[-1] == long  # the screen keeps the whole answer
    store.conn.execute("PRAGMA max_page_count = 1073741823")  # room again
    conv.add_user("Next.")  # saves the earlier answer first
    assert store.unsaved == 0 and store.message(answer_id).content == long
    assert store.message(answer_id).status == "complete" and len(store.runs(message_id=answer_id)) == 1
    assert [m.content for m in Conversation.open(store, conv.session_id).thread][-2:] == [long, "Next."]


def test_a_periodic_save_that_fails_does_not_matter_once_the_answer_is_saved_whole(store: Store, monkeypatch) -> None:
    conv = Conversation(store)
    conv.add_user("Go.")
    answer_id = conv.begin_answer()

    def full(message_id: int, text: str) -> None:
        raise StoreError("The disk is full")

    monkeypatch.setattr(store, "update_answer", full)
    answer = conv.stream_answer(ScriptedEngine(words("a b c", step=1.0)), answer_id, threading.Event())
    assert answer.save_error == "" and conv.save_error == ""
    assert store.message(answer_id).content == "a b c"
