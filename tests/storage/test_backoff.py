"""Backoff (trialstore/storage/_backoff.py): pauses that double up to a ceiling, jittered by
±50%, and none that would begin the next attempt after the budget. A fake clock: nothing
sleeps and nothing is timed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from trialstore.storage import _backoff
from trialstore.storage._backoff import Backoff


class _Clock:
    """``time.monotonic`` and ``time.sleep`` of a clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    # The module's own names only: the real time and random modules stay untouched.
    monkeypatch.setattr(
        _backoff, "time", SimpleNamespace(monotonic=fake.monotonic, sleep=fake.sleep)
    )
    return fake


def _jitter(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setattr(_backoff, "random", SimpleNamespace(random=lambda: value))


def test_pauses_double_up_to_the_ceiling(clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    _jitter(monkeypatch, 0.5)  # factor 0.5 + 0.5 = 1: the pauses without jitter
    backoff = Backoff(100.0, first=0.01, last=0.08)
    assert all(backoff.pause() for _ in range(6))
    assert clock.slept == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.08, 0.08])


@pytest.mark.parametrize(("random", "factor"), [(0.0, 0.5), (0.999999, 1.5)])
def test_jitter_spans_half_to_one_and_a_half_times_the_delay(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch, random: float, factor: float
) -> None:
    _jitter(monkeypatch, random)
    backoff = Backoff(100.0, first=0.2)
    assert backoff.pause()
    assert clock.slept == pytest.approx([0.2 * factor], rel=1e-5)


def test_no_pause_past_the_budget_and_no_sleep_then(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _jitter(monkeypatch, 0.5)
    backoff = Backoff(0.05, first=0.01, last=1.0)
    results = [backoff.pause() for _ in range(4)]
    # 0.01 and 0.02 fit in 0.05 (0.03 spent); 0.04 more would end at 0.07: refused, twice.
    assert results == [True, True, False, False]
    assert clock.slept == pytest.approx([0.01, 0.02])


def test_a_zero_budget_never_pauses(clock: _Clock) -> None:
    assert Backoff(0.0).pause() is False
    assert clock.slept == []
