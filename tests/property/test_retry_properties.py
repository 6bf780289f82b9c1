"""Property 4: exponential backoff retry."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings, strategies as st

from cio_desktop.domain.retry import BackoffPolicy, retry_call


class Transient(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("transient")
        self.retry_after = retry_after


class Fatal(Exception):
    pass


policies = st.builds(
    BackoffPolicy,
    base=st.floats(0.001, 10, allow_nan=False),
    cap=st.floats(0.001, 120, allow_nan=False),
    max_attempts=st.integers(1, 8),
    jitter=st.floats(0, 0.5, allow_nan=False),
)
outcomes = st.one_of(
    st.just(("ok", None)),
    st.tuples(st.just("retry"), st.none() | st.floats(0, 500, allow_nan=False)),
    st.just(("fatal", None)),
)


def close_le(a: float, b: float) -> bool:
    return a <= b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def expected_run(policy: BackoffPolicy, script: list) -> tuple[int, str]:
    """(number of calls, how it ends: ok | fatal | exhausted) — the specification, independently."""
    for i in range(policy.max_attempts):
        kind = script[i][0] if i < len(script) else "ok"
        if kind == "ok":
            return i + 1, "ok"
        if kind == "fatal":
            return i + 1, "fatal"
    return policy.max_attempts, "exhausted"


@settings(max_examples=300, deadline=None)
@given(policy=policies, script=st.lists(outcomes, max_size=12), seed=st.integers(0, 2**32))
def test_property_4_exponential_backoff_retry(policy: BackoffPolicy, script: list, seed: int) -> None:
    calls: list[int] = []

    def fn() -> str:
        i = len(calls)
        calls.append(i)
        kind, retry_after = script[i] if i < len(script) else ("ok", None)
        if kind == "ok":
            return f"result {i}"
        raise Transient(retry_after) if kind == "retry" else Fatal()

    sleeps: list[float] = []
    notified: list[tuple[int, float]] = []
    outcome: str
    try:
        result = retry_call(fn, policy, sleep=sleeps.append, rng=random.Random(seed),
                            is_retryable=lambda e: isinstance(e, Transient),
                            on_retry=lambda k, exc, wait: notified.append((k, wait)))
        outcome = "ok"
        assert result == f"result {len(calls) - 1}"
    except Fatal:
        outcome = "fatal"
    except Transient:
        outcome = "exhausted"

    n_calls, how = expected_run(policy, script)
    # attempts never exceed max_attempts; success stops at once; non-retryable stops at once
    assert len(calls) == n_calls <= policy.max_attempts
    assert outcome == how
    # one sleep between consecutive attempts, none after the last
    assert len(sleeps) == len(calls) - 1
    assert notified == [(k, s) for k, s in enumerate(sleeps, 1)]

    j = policy.jitter
    for k, s in enumerate(sleeps, 1):
        nominal = min(policy.cap, policy.base * 2 ** (k - 1))
        low, high = nominal * (1 - j), nominal * (1 + j)
        retry_after = script[k - 1][1]
        assert close_le(low, s)                                   # never shorter than the backoff
        assert close_le(s, policy.cap * (1 + j))                  # never beyond the jittered cap
        if retry_after is None or retry_after <= 0:
            assert close_le(s, high)                              # base·2^(k-1) within ±jitter, capped
        else:
            assert close_le(min(retry_after, policy.cap), s)      # the server's wait, up to the cap
            assert close_le(s, max(policy.cap, high))

    # deterministic given the rng: the same seed gives the same waits
    calls.clear()
    again: list[float] = []
    try:
        retry_call(fn, policy, sleep=again.append, rng=random.Random(seed),
                   is_retryable=lambda e: isinstance(e, Transient))
    except (Fatal, Transient):
        pass
    assert again == sleeps


def test_delays_double_up_to_the_cap_without_jitter() -> None:
    policy = BackoffPolicy(base=0.5, cap=5.0, max_attempts=8, jitter=0)
    assert [policy.delay(k, random.Random(0)) for k in range(1, 8)] == [0.5, 1, 2, 4, 5, 5, 5]
    assert policy.nominal(5000) == 5.0                          # no float overflow for huge k


def test_invalid_policies_are_refused() -> None:
    for kwargs in ({"base": 0}, {"cap": -1}, {"max_attempts": 0}, {"jitter": 1.0}, {"max_attempts": 2.5}):
        with pytest.raises(ValueError):
            BackoffPolicy(**kwargs)  # type: ignore[arg-type]


def test_keyboard_interrupt_is_never_retried() -> None:
    def fn() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        retry_call(fn, BackoffPolicy(), sleep=lambda s: None, rng=random.Random(1), is_retryable=lambda e: True)
