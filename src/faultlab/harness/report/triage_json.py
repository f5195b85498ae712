"""Triage for scripts: JSON Lines and the stderr progress line, without rich (`triage --json` starts fast)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from faultlab.assertions.triage import TriageReport

SCHEMA_VERSION = 1


class ProgressLine:
    """Bytes read so far, on stderr, for scans that take a while: a line rewritten in place on a terminal, a
    plain line every `plain_every_s` elsewhere; nothing for a scan shorter than `show_after_s`. Never on
    stdout, so never in the JSON."""

    def __init__(
        self,
        stream: TextIO,
        *,
        show_after_s: float = 1.0,
        plain_every_s: float = 10.0,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = stream
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._start = clock()
        self._show_after = show_after_s
        self._every = 0.25 if self._tty else plain_every_s
        self._last = -1e9
        self._width = 0

    def update(self, name: str, done: int, size: int | None) -> None:
        now = self._clock()
        if now - self._start < self._show_after or now - self._last < self._every:
            return
        self._last = now
        total = f" of {size / 1e6:,.0f} MB ({100 * done / size:.0f}%)" if size else ""
        text = f"triage: {name}: {done / 1e6:,.0f} MB read{total}, {now - self._start:.0f} s"
        if self._tty:
            self._out.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._out.write(text + "\n")
        self._out.flush()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None) -> None:
        if self._tty and self._width:
            self._out.write("\r" + " " * self._width + "\r")
            self._out.flush()


def json_records(report: TriageReport) -> Iterator[dict[str, Any]]:
    """JSON Lines records: one per event, one per diagnosis, one per file, a final summary (see README)."""
    for e in report.events:
        yield {"record": "event", "schema": SCHEMA_VERSION, **e.to_json()}
    for d in report.diagnoses:
        yield {"record": "diagnosis", "schema": SCHEMA_VERSION, **d.to_json()}
    for f in report.to_json()["files"]:
        yield {"record": "file", "schema": SCHEMA_VERSION, **f}
    yield {
        "record": "summary",
        "schema": SCHEMA_VERSION,
        "files": len(report.stats),
        "lines": report.total_lines,
        "events": len(report.events),
        "odd_lines": report.odd_lines,
        "skipped_files": len(report.skipped),
        "damaged_files": len(report.damaged),
    }


def write_json_lines(report: TriageReport, out: TextIO) -> None:
    for rec in json_records(report):
        out.write(json.dumps(rec, default=str, ensure_ascii=False))
        out.write("\n")
