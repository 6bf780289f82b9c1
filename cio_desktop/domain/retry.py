"""Exponential backoff with jitter, and a retry loop that is pure and deterministic.

Convention: attempt 1 is the first call. Before retry attempt ``k + 1`` (``k = 1 … max_attempts-1``)
the loop waits ``delay(k)``::

    nominal(k) = min(cap, base · 2^(k-1))
    delay(k)   = nominal(k) · U,  U uniform in [1 - jitter, 1 + jitter]   (so delay ≤ cap · (1 + jitter))

A failure that carries ``retry_after`` (seconds; HTTP 429/503 ``Retry-After``) waits
``max(min(retry_after, cap), delay(k))``: the server's wish is honoured up to ``cap`` and the
wait is never shorter than the policy's own delay.

Nothing here sleeps or reads a clock by itself: ``sleep`` and ``rng`` are passed in, so tests (and
a cancellable worker) decide what waiting means and the same ``rng`` seed gives the same waits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")

#: beyond this exponent 2**(k-1) is larger than any useful cap; avoids float overflow
_MAX_EXPONENT = 1000


@dataclass(frozen=True)
class BackoffPolicy:
    base: float = 1.0         # seconds before the first retry (before jitter)
    cap: float = 60.0         # longest nominal wait, seconds
    max_attempts: int = 5     # total calls, including the first
    jitter: float = 0.1       # relative spread: ±10 % by default

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ValueError("backoff base must be > 0 seconds")
        if not self.cap > 0:
            raise ValueError("backoff cap must be > 0 seconds")
        if int(self.max_attempts) != self.max_attempts or self.max_attempts < 1:
            raise ValueError("max_attempts must be a whole number ≥ 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")

    def nominal(self, k: int) -> float:
        """The wait before retry ``k`` without jitter: ``min(cap, base · 2^(k-1))``."""
        if k < 1:
            raise ValueError("retry numbers start at 1")
        return min(self.cap, self.base * 2.0 ** min(k - 1, _MAX_EXPONENT))

    def delay(self, k: int, rng: random.Random) -> float:
        """The wait before retry ``k`` (1-based), jittered by a factor in [1-jitter, 1+jitter]."""
        nominal = self.nominal(k)
        if self.jitter == 0:
            return nominal
        return nominal * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def wait(self, k: int, rng: random.Random, retry_after: float | None = None) -> float:
        """``delay(k)``, or ``max(min(retry_after, cap), delay(k))`` when the server asked for a wait."""
        d = self.delay(k, rng)
        if retry_after is not None and retry_after > 0:
            return max(min(float(retry_after), self.cap), d)
        return d


def retry_after_of(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds == seconds and seconds >= 0 else None  # NaN and negatives ignored


def retry_call(fn: Callable[[], T], policy: BackoffPolicy, *, sleep: Callable[[float], None],
               rng: random.Random, is_retryable: Callable[[BaseException], bool],
               on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """Call ``fn()`` up to ``policy.max_attempts`` times and return its first result.

    - an exception for which ``is_retryable(exc)`` is false propagates at once;
    - a retryable one is followed by ``on_retry(k, exc, wait)`` then ``sleep(wait)`` and another
      call, where ``k`` is the number of the retry (1 for the second call) and ``wait`` is
      ``policy.wait(k, rng, exc.retry_after)``;
    - after the last attempt the last exception propagates unchanged.

    Only ``Exception`` subclasses are considered; ``KeyboardInterrupt``/``SystemExit`` always
    propagate.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 — classified by the caller's predicate
            if attempt >= policy.max_attempts or not is_retryable(exc):
                raise
            wait = policy.wait(attempt, rng, retry_after_of(exc))
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
            attempt += 1
