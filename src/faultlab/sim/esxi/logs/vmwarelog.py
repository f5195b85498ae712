"""vmware.log line layouts of the VMX (7.0 `ts| vcpu-0| I005: msg`, 8.0 `ts In(05) vcpu-0 - msg`)."""

from __future__ import annotations

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.kinds import VMX_WINBSOD, LineKind

# Per-line VMX levels: 8.0 tag and the 7.0 letter+number it replaced.
LEVELS = {"info": ("In(05)", "I005"), "warning": ("Wa(03)", "W003"), "error": ("Er(02)", "E002")}


def vmware_line(profile: str, kind: LineKind, thread: str, ts: str | None = None, /, **fields: object) -> str:
    if kind.log != "vmware":
        raise TypeError(f"{kind.name} is a {kind.log} line, not a vmware.log one")
    ts = ts or esx_timestamp()
    tag80, tag70 = LEVELS[kind.level]
    msg = kind.render(**fields)
    if profile == "7.0":
        return f"{ts}| {thread}| {tag70}: {msg}"
    return f"{ts} {tag80} {thread} - {msg}"


def winbsod_lines(profile: str, thread: str, code: int, params: tuple[int, int, int, int]) -> list[str]:
    """The five WinBSOD Synthetic MSR lines (0x40000100 = code, 0x40000101..4 = parameters), written at warning
    level (KB 392634: `Wa(03)`; the 7.0 letter form of that level is W003 [I], no verbatim 7.0 sample found).
    8.0 adds an empty `Wa(03)+` continuation after each but the last (KB 392634 / KB 417490)."""
    ts = esx_timestamp()
    values = (code, *params)
    out: list[str] = []
    for index, value in enumerate(values):
        out.append(vmware_line(profile, VMX_WINBSOD, thread, ts, msr=0x40000100 + index, value=value))
        if profile != "7.0" and index < len(values) - 1:
            out.append(f"{ts} Wa(03)+ {thread} -")
    return out
