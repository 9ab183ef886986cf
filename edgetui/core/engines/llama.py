"""The Engine protocol and LlamaEngine, which runs GGUF models in-process with llama-cpp-python."""

from __future__ import annotations

import collections
import ctypes
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from edgetui.core.engines.llama_thread import LlamaThread
from edgetui.core.engines.token_stream import TokenStream
from edgetui.core.gguf.files import check_gguf_file, ftype_name
from edgetui.core.types import (
    ChatMessage,
    Chunk,
    EngineError,
    GenerationStats,
    LoadOptions,
    ModelInfo,
    SamplerSettings,
    StopReason,
)

# Chunks the llama thread may make before the consumer takes them: it then never waits for a consumer that is
# slow to get the GIL (in the app the UI thread holds it while it paints). A cancel still stops within a token.
AHEAD = 64
# The tokens made within this time reach the consumer as one chunk: its thread wakes 25 times a second, not once per
# token (on a busy machine each wake-up preempts a llama.cpp thread). The stats are taken per token on the llama
# thread, so they do not change; the chat shows text at this pace anyway.
GATHER_S = 1 / 25
# What shows streamed text passes it on at most this often (the chat, compare): a little more often than GATHER_S, so
# that each chunk of the local engine is shown when it arrives, not one flush later (~23 times a second: above the
# 20/s floor, and each update costs CPU); engines that hand over every token (remote endpoints, the engine process)
# are paced to the same rate. The one source of both: the UI imports it.
FLUSH_S = GATHER_S * 5 / 6

# Special tokens that identify a prompt format, tried in order when a GGUF carries no chat template.
_FALLBACK_FORMATS: tuple[tuple[str, str], ...] = (
    ("<|im_start|>", "chatml"),
    ("<|start_header_id|>", "llama3"),
    ("<start_of_turn>", "gemma"),
    ("[INST]", "mistral_instruct"),
)


@runtime_checkable
class Engine(Protocol):
    """What the app needs from a model runner, local or remote."""

    @property
    def info(self) -> ModelInfo | None: ...

    def load(self, path: str | Path, options: LoadOptions) -> ModelInfo: ...

    def unload(self) -> None: ...

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event | None = None,
    ) -> Generation: ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int: ...


class Generation(Iterator[Chunk]):
    """An answer being streamed: iterate for `Chunk`s; `stats` is complete once iteration ends."""

    def __init__(self, produce: Callable[[GenerationStats], Iterator[Chunk]]) -> None:
        self.stats = GenerationStats()
        self._chunks = produce(self.stats)
        self.text_parts: list[str] = []

    def __iter__(self) -> Generation:
        return self

    def __next__(self) -> Chunk:
        chunk = next(self._chunks)
        self.text_parts.append(chunk.text)
        return chunk

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def close(self) -> None:
        self._chunks.close()

    def run(self) -> str:
        """Consume the whole stream and return the text (headless use and tests)."""
        for _ in self:
            pass
        return self.text


def merge_chunks(chunks: list[Chunk]) -> Chunk:
    """One chunk for several in a row: their text, their tokens, the time of the last."""
    return Chunk("".join(c.text for c in chunks), chunks[-1].t, sum(c.tokens for c in chunks))


class LlamaLog:
    """Keeps llama.cpp's recent log lines (instead of printing them over the TUI) to explain failures."""

    _installed: LlamaLog | None = None

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self._partial = ""
        self._callback: Any = None

    @classmethod
    def install(cls) -> LlamaLog:
        if cls._installed is None:
            import llama_cpp

            log = cls()

            @llama_cpp.llama_log_callback
            def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
                log._feed(level, text)

            log._callback = _callback  # keep a reference: ctypes does not
            llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))
            cls._installed = log
        return cls._installed

    def _feed(self, level: int, text: bytes) -> None:
        s = self._partial + text.decode("utf-8", "replace")
        *done, self._partial = s.split("\n")
        self.lines.extend(line for line in done if line.strip())

    def mark(self) -> int:
        return len(self.lines)

    def reason(self) -> str:
        """The most telling recent error line from llama.cpp, without its function-name prefix."""
        for line in reversed(self.lines):
            low = line.lower()
            if any(w in low for w in ("error", "failed", "invalid", "corrupt", "not within", "unknown")):
                return line.split(": ", 1)[-1].strip() if ": " in line else line.strip()
        return ""


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class LlamaEngine:
    """One llama.cpp model in this process, with one lock around it."""

    def __init__(self) -> None:
        self._llm: Any = None
        self._info: ModelInfo | None = None
        self._formatter: Callable[..., Any] | None = None
        self._eos_ids: set[int] = set()
        self.lock = threading.Lock()

    @property
    def info(self) -> ModelInfo | None:
        return self._info

    @property
    def llama(self) -> Any:
        """The underlying `llama_cpp.Llama` (for benchmarks and quality measurements)."""
        if self._llm is None:
            raise EngineError("No model is loaded")
        return self._llm

    # -- loading -------------------------------------------------------------------------------------
    def load(self, path: str | Path, options: LoadOptions) -> ModelInfo:
        path = Path(path).expanduser()
        check_gguf_file(path)
        log = LlamaLog.install()
        import llama_cpp

        with self.lock:
            self._unload_locked()
            rss0, t0 = _rss(), time.perf_counter()
            try:
                llm = LlamaThread.shared().call(
                    llama_cpp.Llama,
                    model_path=str(path),
                    n_ctx=options.n_ctx,
                    n_batch=options.n_batch,
                    n_threads=options.n_threads,
                    n_threads_batch=options.n_threads,
                    n_gpu_layers=options.n_gpu_layers,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                reason = log.reason()
                detail = f": {reason}" if reason else " (the file may be corrupt, truncated or unsupported)"
                raise EngineError(f"llama.cpp could not load {path.name}{detail}") from exc
            load_s = time.perf_counter() - t0
            self._llm = llm
            template, note = self._setup_chat_format(llm)
            meta = llm.metadata
            self._info = ModelInfo(
                path=path,
                name=path.stem,
                n_ctx=llm.n_ctx(),
                n_ctx_train=int(llama_cpp.llama_model_n_ctx_train(llm.model)),
                n_params=int(llama_cpp.llama_model_n_params(llm.model)),
                size_bytes=int(llama_cpp.llama_model_size(llm.model)),
                quant=ftype_name(meta.get("general.file_type")),
                chat_template=template,
                chat_template_note=note,
                n_gpu_layers=options.n_gpu_layers,
                n_threads=options.n_threads,
                load_s=load_s,
                rss_delta_bytes=max(0, _rss() - rss0),
                backend="gpu" if options.n_gpu_layers and llama_cpp.llama_supports_gpu_offload() else "cpu",
            )
            return self._info

    def _setup_chat_format(self, llm: Any) -> tuple[str, str]:
        from llama_cpp import llama_chat_format as fmt

        meta = llm.metadata
        eos_id = llm.token_eos()
        self._eos_ids = {eos_id} if eos_id >= 0 else set()
        template = meta.get("tokenizer.chat_template")
        if template:
            try:
                self._formatter = fmt.Jinja2ChatFormatter(
                    template=template,
                    eos_token=llm._model.token_get_text(eos_id) if eos_id >= 0 else "",
                    bos_token=llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else "",
                    stop_token_ids=sorted(self._eos_ids),
                )
                return "gguf", ""
            except Exception as exc:  # a template jinja2 cannot compile: fall back below
                bad = f"the chat template in its GGUF file does not compile ({exc.__class__.__name__})"
        else:
            bad = "its GGUF file has no chat template"
        name = "alpaca"
        for token, fallback in _FALLBACK_FORMATS:
            if len(llm.tokenize(token.encode(), add_bos=False, special=True)) == 1:
                name = fallback
                break
        self._formatter = getattr(fmt, f"format_{name}")
        return name, f"No usable chat template: {bad}, so prompts use the {name} format (answers may be poorer)."

    def unload(self) -> None:
        with self.lock:
            self._unload_locked()

    def _unload_locked(self) -> None:
        if self._llm is not None:
            try:
                LlamaThread.shared().call(self._llm.close)
            except Exception:
                pass
        self._llm = None
        self._info = None
        self._formatter = None

    # -- chat ----------------------------------------------------------------------------------------
    def format_prompt(self, messages: Sequence[ChatMessage]) -> tuple[list[int], list[str], Any]:
        """Token ids of the chat prompt, its stop strings and stopping criteria."""
        llm = self.llama
        assert self._formatter is not None
        try:
            result = self._formatter(messages=[m.as_dict() for m in messages])
        except Exception as exc:
            raise EngineError(f"The chat template failed on this conversation: {exc}") from exc
        tokens = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        stop = result.stop if isinstance(result.stop, list) else ([result.stop] if result.stop else [])
        return tokens, [s for s in stop if s], result.stopping_criteria

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return len(self.format_prompt(messages)[0])

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event | None = None,
    ) -> Generation:
        cancel = cancel or threading.Event()
        return Generation(lambda stats: self._stream(list(messages), sampler, cancel, stats))

    def _stream(
        self,
        messages: list[ChatMessage],
        sampler: SamplerSettings,
        cancel: threading.Event,
        stats: GenerationStats,
    ) -> Iterator[Chunk]:
        """Holds the engine's lock here; the tokens themselves are made on the llama thread."""
        with self.lock:
            llm = self.llama
            tokens, stop, criteria = self.format_prompt(messages)
            stats.prompt_tokens = len(tokens)
            room = llm.n_ctx() - len(tokens)
            if room <= 0:
                stats.stop_reason = StopReason.ERROR
                stats.error = (
                    f"The conversation ({len(tokens)} tokens) does not fit in the context window "
                    f"({llm.n_ctx()} tokens). Drop older turns or load the model with a larger context."
                )
                return
            max_tokens = min(sampler.max_tokens, room) if sampler.max_tokens > 0 else room
            yield from LlamaThread.shared().iterate(
                lambda: self._produce(llm, tokens, stop, criteria, max_tokens, sampler, cancel, stats),
                ahead=AHEAD,
                gather_s=GATHER_S,
                merge=merge_chunks,
            )

    def _produce(
        self,
        llm: Any,
        tokens: list[int],
        stop: list[str],
        criteria: Any,
        max_tokens: int,
        sampler: SamplerSettings,
        cancel: threading.Event,
        stats: GenerationStats,
    ) -> Iterator[Chunk]:
        """Tokens from `Llama.generate` (what `create_completion` streams, less its per-token re-detokenizing)."""
        import llama_cpp

        seed = sampler.seed if sampler.seed >= 0 else int.from_bytes(os.urandom(4), "little") >> 1
        ctx = llm._ctx.ctx
        llama_cpp.llama_perf_context_reset(ctx)
        t0 = time.perf_counter()
        t_first = t_last = 0.0
        n_chunks = 0

        def chunk(text: str) -> Chunk:
            nonlocal t_first, t_last, n_chunks
            t_last = time.perf_counter()
            t_first = t_first or t_last
            n_chunks += 1
            return Chunk(text, t_last)

        is_eog, vocab = llama_cpp.llama_vocab_is_eog, llm._model.vocab
        stream = TokenStream.for_llama(llm, stop)
        stats.stop_reason = StopReason.EOS
        n_gen = 0
        llm.set_seed(seed)
        it = llm.generate(
            tokens,
            top_k=sampler.top_k,
            top_p=sampler.top_p,
            min_p=sampler.min_p,
            temp=sampler.temperature,
            repeat_penalty=sampler.repeat_penalty,
            stopping_criteria=criteria,
        )
        try:
            for token in it:  # ends by itself only when `criteria` says so
                if is_eog(vocab, token):
                    break
                n_gen += 1
                text = stream.feed(token)
                if n_gen >= max_tokens and not stream.stopped:
                    stats.stop_reason = StopReason.LENGTH
                    text += stream.flush()
                if text:
                    yield chunk(text)
                if stream.stopped or stats.stop_reason is StopReason.LENGTH:
                    break
                if cancel.is_set():
                    stats.stop_reason = StopReason.CANCELLED
                    break
            if stats.stop_reason is StopReason.EOS and (text := stream.flush()):
                yield chunk(text)
        except GeneratorExit:
            stats.stop_reason = StopReason.CANCELLED
            raise
        except Exception as exc:  # llama.cpp decode failures surface as RuntimeError/ValueError
            stats.stop_reason = StopReason.ERROR
            stats.error = f"Generation failed: {exc}"
        finally:
            it.close()
            end = time.perf_counter()
            perf = llama_cpp.llama_perf_context(ctx)
            stats.total_s = end - t0
            stats.ttft_s = (t_first - t0) if n_chunks else stats.total_s
            stats.prompt_eval_tokens = int(perf.n_p_eval)
            stats.prompt_tps = perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms > 0 else 0.0
            stats.gen_tokens = max(int(perf.n_eval), n_chunks)
            gen_span = t_last - t_first
            stats.gen_tps = (n_chunks - 1) / gen_span if gen_span > 0 else 0.0
            stats.engine_timings = {
                "n_p_eval": int(perf.n_p_eval),
                "t_p_eval_ms": float(perf.t_p_eval_ms),
                "n_eval": int(perf.n_eval),
                "t_eval_ms": float(perf.t_eval_ms),
                "eval_tps": perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms > 0 else 0.0,
            }
            if not n_chunks and stats.stop_reason is StopReason.EOS:
                stats.note = "The model ended its answer at once, without any text."
