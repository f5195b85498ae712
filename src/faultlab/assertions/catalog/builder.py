"""Event building: a log stream's parsed lines -> catalog events (BSOD sets aggregated), vob/esx twins linked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from faultlab.assertions.bsod import bugcheck_name, status_name
from faultlab.assertions.catalog.base import Fields
from faultlab.assertions.catalog.registry import signatures_for
from faultlab.assertions.catalog.vmware import RE_MSR as _RE_MSR
from faultlab.assertions.lazyre import lazy_re
from faultlab.assertions.model import Event, LogLine


def _match(line: LogLine) -> tuple[str, str | None, Fields, str | None] | None:
    for sig in signatures_for(line):
        res = sig.apply(line.body)
        if res is not None:
            subject, fields, sid = res
            name = fields.pop("_name", sig.name)
            return name, subject, fields, sid if sid is not None else sig.source_id
    return None


_RE_VM_LOG = lazy_re(r"([^/\\]+)[/\\]vmware(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$")


def _vm_of_log(file: str) -> str | None:
    """The VM folder of …/<vm>/vmware.log (also vmware-N.log and rotated copies), else None."""
    m = _RE_VM_LOG.search(file)
    return m.group(1) if m else None


_MSR_FLUSH_GAP = 20  # non-MSR lines after which an incomplete BSOD set is emitted


@dataclass(slots=True)
class _PendingBsod:
    line: LogLine
    values: dict[int, int] = field(default_factory=dict)
    gap: int = 0


def _hex(v: int | None) -> str | None:
    return None if v is None else f"0x{v:X}"


class EventBuilder:
    """Turns the parsed lines of ONE log stream (a file or a rotated set), in order, into catalog events."""

    def __init__(self, *, host: str = "", file: str = "") -> None:
        self._host = host
        self._file = file
        self._bsod: _PendingBsod | None = None
        self._last_hb: Event | None = None
        # (line number, error) of lines a signature handler failed on: kept for reports, never raised
        self.errors: list[tuple[int, str]] = []

    def _event(self, line: LogLine, name: str, subject: str | None, fields: Fields, sid: str | None) -> Event:
        return Event(
            name=name, time=line.time, host=self._host or line.host, file=line.file or self._file,
            line_no=line.line_no, raw=line.raw, subject=subject, fields=fields, source_id=sid, kind=line.kind,
            year_inferred=line.year_inferred,
        )  # fmt: skip

    def feed(self, line: LogLine) -> list[Event]:
        """Events completed by this line (a BSOD set is emitted when complete or interrupted)."""
        out: list[Event] = []
        msr = _RE_MSR.search(line.body) if "WinBSOD" in line.body else None
        if msr is not None:
            idx, val = int(msr.group("idx")), int(msr.group("val"), 16)
            pending = self._bsod
            if pending is not None and (idx in pending.values or idx < max(pending.values)):
                out.extend(self._flush_bsod())  # a new crash starts before the old set was complete
            if self._bsod is None:
                self._bsod = _PendingBsod(line)
            self._bsod.values[idx] = val
            self._bsod.gap = 0
            if len(self._bsod.values) == 5:
                out.extend(self._flush_bsod())
            return out
        try:
            found = _match(line)
        except Exception as exc:  # one odd line must not stop a triage; tests assert `errors` stays empty
            self.errors.append((line.line_no, f"{type(exc).__name__}: {exc}"))
            found = None
        if self._bsod is not None:
            if not line.continuation:
                self._bsod.gap += 1
            if found is not None or self._bsod.gap > _MSR_FLUSH_GAP:
                out.extend(self._flush_bsod())
        if found is not None:
            ev = self._event(line, *found)
            if ev.name == "host.heartbeat.lost":
                self._link_cos_error(ev)
            elif ev.name == "guest.reset" and "vm" not in ev.fields:
                # vmware.log: the VM and the vCPU are in the file name and header, not the body (hostd names the VM)
                ev.subject = _vm_of_log(ev.file)
                ev.fields["vcpu"] = line.program
            out.append(ev)
        return out

    def _link_cos_error(self, ev: Event) -> None:
        # "Host: COS Error: Lost heartbeat" reports the loss the preceding VMNIX HB alert already logged
        last = self._last_hb
        if "COS Error" in ev.raw and last is not None and 0 < ev.line_no - last.line_no <= 5:
            ev.twin = last.key
        else:
            self._last_hb = ev

    def close(self) -> list[Event]:
        """End of stream: emit what is pending (an incomplete BSOD set, complete=False)."""
        return self._flush_bsod()

    def _flush_bsod(self) -> list[Event]:
        p, self._bsod = self._bsod, None
        if p is None:
            return []
        code = p.values.get(0)
        params = [p.values.get(i) for i in range(1, 5)]
        fields: Fields = {
            "code": code,
            "code_hex": _hex(code),
            "name": bugcheck_name(code) if code is not None else None,
            "params": params,
            "params_hex": [_hex(v) for v in params],
            "complete": len(p.values) == 5,
        }
        if code is not None:
            status = status_name(code, params)
            if status is not None:
                fields["status_name"] = status
        return [self._event(p.line, "guest.bsod", _vm_of_log(p.line.file or self._file), fields, None)]


def events_from_lines(lines: Sequence[LogLine], *, host: str = "", file: str = "") -> list[Event]:
    """All events of one stream's lines (feed + close), twins linked."""
    b = EventBuilder(host=host, file=file)
    out: list[Event] = []
    for line in lines:
        out.extend(b.feed(line))
    out.extend(b.close())
    link_twins(out)
    return out


# ---------------------------------------------------------------------------------------------------
# vob.* / esx.* twins

_TWIN_SECONDS = 2.0
_TWIN_LINES = 6  # masked times: the twin must be this close in the same file


def _close(a: Event, b: Event) -> float | None:
    """A distance if a and b may be one observation, else None."""
    if a.time is not None and b.time is not None:
        d = abs((a.time - b.time).total_seconds())
        return d if d <= _TWIN_SECONDS else None
    if a.file == b.file and abs(a.line_no - b.line_no) <= _TWIN_LINES:
        return float(abs(a.line_no - b.line_no))
    return None


def _is_vob(e: Event) -> bool:
    return bool(e.source_id and e.source_id.startswith("vob.") and not e.fields.get("forwarded"))


def link_twins(events: Sequence[Event]) -> None:
    """Set `twin` on each esx.* event (and each vobd "forwarded" note) to its vob.* twin. In place.

    Twins have the same name, host and subject and are within 2 s (or, with masked times, within a few
    lines of the same file). Each vob.* event is the twin of at most one esx.* event.
    """
    index: dict[tuple[str, str, str | None], list[Event]] = {}
    for e in events:
        if _is_vob(e) or (e.source_id and e.source_id.startswith("esx.") and not e.fields.get("forwarded")):
            index.setdefault((e.name, e.host, e.subject), []).append(e)
    used: set[tuple[str, int]] = set()
    for e in events:
        sid = e.source_id or ""
        forwarded = bool(e.fields.get("forwarded"))
        if e.twin is not None or not (forwarded or sid.startswith("esx.")):
            continue
        best: tuple[float, Event] | None = None
        for cand in index.get((e.name, e.host, e.subject), ()):
            if cand is e or cand.key in used or not (forwarded or _is_vob(cand)):
                continue
            d = _close(e, cand)
            if d is not None and (best is None or d < best[0]):
                best = (d, cand)
        if best is not None:
            e.twin = best[1].key
            if not forwarded:
                used.add(best[1].key)
