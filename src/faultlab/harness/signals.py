"""SIGTERM as an interrupt during a run, and a shield that defers Ctrl-C/SIGTERM while a heal is running."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during a run: unwinds like Ctrl-C, so every `finally` (heal) runs."""


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block SIGTERM raises Terminated; the previous handler comes back after (main thread only)."""
    if not _main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def shielded() -> Iterator[list[int]]:
    """Ctrl-C and SIGTERM are noted, not raised, inside the block (a heal must not be cut in half); the first
    one noted is raised when the block ends without an error of its own."""
    pending: list[int] = []
    if not _main_thread():
        yield pending
        return

    def note(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    old_int = signal.signal(signal.SIGINT, note)
    old_term = signal.signal(signal.SIGTERM, note)
    try:
        yield pending
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    if pending:
        if pending[0] == signal.SIGTERM:
            raise Terminated("signal SIGTERM (during heal)")
        raise KeyboardInterrupt
