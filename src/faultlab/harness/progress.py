"""Live progress of a run on a terminal (rich): phase, elapsed against budget, what it waits for; silent otherwise."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.live import Live
from rich.text import Text


class Progress:
    """`phase()` starts a phase; `tick()` updates what it waits for. Does nothing when the stream is not a TTY."""

    def __init__(self, stream: IO[str] | None = None, *, enabled: bool | None = None) -> None:
        out = stream or sys.stderr
        self.enabled = out.isatty() if enabled is None else enabled
        self._console = Console(file=out, force_terminal=self.enabled or None)
        self._live: Live | None = None
        self._phase, self._t0 = "", time.monotonic()
        self._budget: float | None = None

    def __enter__(self) -> Progress:
        if self.enabled:
            self._live = Live(Text(""), console=self._console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.__exit__(t, e, tb)
            self._live = None

    def phase(self, name: str, budget_s: float | None = None) -> None:
        self._phase, self._budget, self._t0 = name, budget_s, time.monotonic()
        self.tick("")

    def tick(self, waiting_for: str, elapsed_s: float | None = None) -> None:
        if self._live is None:
            return
        self._live.update(Text(self.line(waiting_for, elapsed_s)))

    def line(self, waiting_for: str, elapsed_s: float | None = None) -> str:
        elapsed = time.monotonic() - self._t0 if elapsed_s is None else elapsed_s
        budget = f" / {self._budget:.0f}s" if self._budget is not None else ""
        what = f"  waiting for: {waiting_for}" if waiting_for else ""
        return f"[{self._phase}] {elapsed:5.1f}s{budget}{what}"
