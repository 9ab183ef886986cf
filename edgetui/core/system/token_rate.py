"""TokenRate: tokens/s of a streamed answer (windowed, smoothed, a sparkline history and TTFT), O(1) per token."""

from __future__ import annotations

import collections
import math


class TokenRate:
    """Fed `add(t, n)` for each streamed chunk (t = time.perf_counter() seconds); cheap enough for the UI thread.

    - `rate(now)`: tokens/s over the last `window_s`, measured between arrivals (a preallocated ring of
      arrival times, so nothing grows per token); it decays when tokens stop coming.
    - `smoothed`: an exponentially weighted rate with time constant `tau_s`, corrected at the start.
    - `history`: one `rate()` value per `step_s`, at most `history_len` of them, for a sparkline.
    - `ttft_s`: time from `start(t0)` to the first chunk.
    The first chunk starts the clock and is not counted in the rates (it came after the prompt was processed,
    not at the generation speed); it is in `tokens`.
    """

    __slots__ = (
        "window_s",
        "step_s",
        "tau_s",
        "_cap",
        "_times",
        "_counts",
        "_head",
        "_tail",
        "_in_window",
        "_history",
        "_next_step",
        "_t0",
        "_first_t",
        "_last_t",
        "_first_n",
        "_last_n",
        "tokens",
        "_ema",
    )

    def __init__(
        self,
        window_s: float = 1.0,
        step_s: float = 0.5,
        history_len: int = 120,
        tau_s: float = 1.0,
        capacity: int = 4096,
    ) -> None:
        if window_s <= 0 or step_s <= 0 or tau_s <= 0 or capacity < 2 or history_len < 1:
            raise ValueError("TokenRate needs positive window_s, step_s, tau_s, history_len and capacity >= 2")
        self.window_s = window_s
        self.step_s = step_s
        self.tau_s = tau_s
        self._cap = capacity  # arrivals kept; above capacity/window_s chunks/s the window just gets shorter
        self._times = [0.0] * capacity
        self._counts = [0] * capacity
        self._history: collections.deque[float] = collections.deque(maxlen=history_len)
        self.reset()

    def reset(self, t0: float | None = None) -> None:
        """Forget everything; `t0` (optional) is when the request was sent, for TTFT."""
        self._head = 0  # absolute index of the next arrival to write
        self._tail = 0  # absolute index of the anchor: the newest arrival at least window_s before the last
        self._in_window = 0  # tokens of the arrivals after the anchor
        self._history.clear()
        self._next_step = math.inf
        self._t0 = t0
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._first_n = 0
        self._last_n = 0
        self.tokens = 0
        self._ema = 0.0

    def start(self, t0: float) -> None:
        """Mark the moment the request was sent (same as `reset(t0)`)."""
        self.reset(t0)

    # -- the token path --------------------------------------------------------------------------------
    def add(self, t: float, n: int = 1) -> None:
        """Count `n` tokens that arrived at time `t` (monotonic, seconds)."""
        last = self._last_t
        cap = self._cap
        if last is None:
            self._first_t = self._last_t = t
            self._first_n = self._last_n = n
            self.tokens = n
            self._times[0] = t
            self._counts[0] = n
            self._head = 1
            self._next_step = t + self.step_s
            return
        if t >= self._next_step:
            self._record_history(t)
        if t < last:  # a clock that went backwards: count the tokens at the last time
            t = last
        head = self._head
        i = head % cap
        self._times[i] = t
        self._counts[i] = n
        self._head = head = head + 1
        self._in_window += n
        tail = self._tail
        if head - tail > cap:  # the ring is full: the anchor moves on
            tail += 1
            self._in_window -= self._counts[tail % cap]
        cutoff = t - self.window_s
        times = self._times
        while tail + 1 < head - 1 and times[(tail + 1) % cap] <= cutoff:
            tail += 1
            self._in_window -= self._counts[tail % cap]
        self._tail = tail
        self.tokens += n
        # exponentially weighted count / tau: s <- s * exp(-dt / tau) + n / tau
        self._ema = self._ema * math.exp(-(t - last) / self.tau_s) + n / self.tau_s
        self._last_t = t
        self._last_n = n

    def _record_history(self, t: float) -> None:
        """Append one rate per elapsed step up to time `t` (a stall appends its dips, at most history_len)."""
        step = self._next_step
        pending = int((t - step) / self.step_s) + 1
        maxlen = self._history.maxlen or 1
        if pending > maxlen:  # a very long stall: skip the steps that would scroll out anyway
            step += (pending - maxlen) * self.step_s
        while step <= t:
            self._history.append(self.rate(step))
            step += self.step_s
        self._next_step = step

    # -- readings ------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Bring the history up to `now` without a token (call from a UI timer so a stall shows as a dip)."""
        if self._last_t is not None and now >= self._next_step:
            self._record_history(now)

    def rate(self, now: float | None = None) -> float:
        """Tokens/s over about the last `window_s` before `now` (default: the time of the last token).

        Measured from the anchor arrival to the last one, so a steady stream reads exactly its rate whenever it
        is read; once `now` is later than one mean interval after the last arrival, the end of the span follows
        `now` and the rate falls, to 0 after a whole `window_s` more without a token.
        """
        last = self._last_t
        n_after = self._head - 1 - self._tail
        if last is None or n_after < 1:
            return 0.0
        anchor = self._times[self._tail % self._cap]
        span = last - anchor
        if span <= 0.0:
            return 0.0
        if now is not None:
            late = now - span / n_after - last  # how long after the expected next token
            if late > self.window_s:
                return 0.0  # a whole window without a token
            if late > 0.0:
                span += late
        return self._in_window / span

    @property
    def smoothed(self) -> float:
        """The exponentially weighted rate at the last token (time constant tau_s), 0 before two chunks."""
        first, last = self._first_t, self._last_t
        if first is None or last is None or last <= first:
            return 0.0
        # The weighted count S (corrected for the start, when the weights do not yet sum to 1) of a steady stream
        # of n tokens every d seconds is (n / tau) / (1 - exp(-d / tau)); solving that for n / d gives a rate that
        # is exact for a steady stream at any speed, and follows changes with time constant tau.
        weighted = self._ema / (1.0 - math.exp(-(last - first) / self.tau_s))
        n = self._last_n
        ratio = n / (self.tau_s * weighted) if weighted > 0.0 else 1.0
        if ratio >= 1.0:
            return 0.0
        return n / (self.tau_s * -math.log1p(-ratio))

    def smoothed_at(self, now: float) -> float:
        """`smoothed`, decayed to `now` (it falls towards 0 while no token comes)."""
        last = self._last_t
        if last is None or now <= last:
            return self.smoothed
        return self.smoothed * math.exp(-(now - last) / self.tau_s)

    @property
    def average(self) -> float:
        """Tokens/s from the first chunk to the last one."""
        first, last = self._first_t, self._last_t
        if first is None or last is None or last <= first:
            return 0.0
        return (self.tokens - self._first_n) / (last - first)

    @property
    def ttft_s(self) -> float | None:
        """Seconds from `start(t0)` to the first chunk; None without a start time or before any chunk."""
        if self._t0 is None or self._first_t is None:
            return None
        return max(0.0, self._first_t - self._t0)

    @property
    def history(self) -> list[float]:
        """Rates sampled every `step_s` (oldest first), at most `history_len` values."""
        return list(self._history)

    @property
    def last_t(self) -> float | None:
        return self._last_t
