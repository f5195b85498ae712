"""vmware.log line layouts of the VMX (7.0 `ts| vcpu-0| I005: msg`, 8.0 `ts In(05) vcpu-0 - msg`)."""

from __future__ import annotations

from faultlab.sim.esxi.logs.clock import esx_timestamp

# Per-line VMX levels: 8.0 tag and the 7.0 letter+number it replaced.
LEVELS = {"info": ("In(05)", "I005"), "warning": ("Wa(03)", "W003"), "error": ("Er(02)", "E002")}


def vmware_line(profile: str, level: str, thread: str, msg: str, ts: str | None = None) -> str:
    ts = ts or esx_timestamp()
    tag80, tag70 = LEVELS[level]
    if profile == "7.0":
        return f"{ts}| {thread}| {tag70}: {msg}"
    return f"{ts} {tag80} {thread} - {msg}"


def winbsod_lines(profile: str, thread: str, code: int, params: tuple[int, int, int, int]) -> list[str]:
    """The five WinBSOD Synthetic MSR lines (0x40000100 = code, 0x40000101..4 = parameters).

    8.0 writes them as Wa(03) with an empty `Wa(03)+` continuation after each but the last (KB 392634);
    7.0 as plain `I005` lines (KB 427504 layout).
    """
    ts = esx_timestamp()
    values = (code, *params)
    out: list[str] = []
    for index, value in enumerate(values):
        msg = f"WinBSOD: Synthetic MSR[0x{0x40000100 + index:x}] 0x{value:x}"
        if profile == "7.0":
            out.append(vmware_line(profile, "info", thread, msg, ts))
            continue
        out.append(vmware_line(profile, "warning", thread, msg, ts))
        if index < len(values) - 1:
            out.append(f"{ts} Wa(03)+ {thread} -")
    return out
