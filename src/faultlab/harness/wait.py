"""The one wait of the harness: ask a condition at a cadence until it is done, the budget is spent or a wake event."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_result

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Waited(Generic[T]):
    """How a wait ended: the condition's last answer, whether it was done, after how long, and whether woken."""

    value: T
    done: bool
    elapsed_s: float
    woken: bool


def wait_until(
    check: Callable[[], T],
    budget_s: float,
    cadence_s: float,
    *,
    done: Callable[[T], bool] = bool,
    wake: threading.Event | None = None,
    on_tick: Callable[[T, float], None] | None = None,
) -> Waited[T]:
    """Call `check` at once, then every `cadence_s`, until `done(value)`, the monotonic budget is spent (a last
    call falls on the deadline) or `wake` is set. `on_tick(value, elapsed)` runs before each pause. An exception
    from `check` propagates: a condition that cannot be asked is the caller's business."""
    pause = wake or threading.Event()
    t0 = time.monotonic()
    deadline = t0 + budget_s

    def left() -> float:
        return deadline - time.monotonic()

    def before_sleep(state: RetryCallState) -> None:
        if on_tick is not None and state.outcome is not None:
            on_tick(state.outcome.result(), time.monotonic() - t0)

    def pause_for(seconds: float) -> None:
        pause.wait(seconds)  # a wake ends the pause early; `stop` then ends the wait

    retrying: Retrying = Retrying(
        retry=retry_if_result(lambda value: not done(value)),
        stop=lambda state: left() <= 0 or pause.is_set(),
        wait=lambda state: max(0.0, min(cadence_s, left())),
        sleep=pause_for,
        before_sleep=before_sleep,
        retry_error_callback=lambda state: state.outcome.result() if state.outcome is not None else None,
    )
    value: T = retrying(check)
    met = done(value)
    return Waited(value, met, time.monotonic() - t0, pause.is_set() and not met)
