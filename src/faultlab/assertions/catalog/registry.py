"""Which signatures read which log: per log kind, per program in mixed logs, and the prefilter union."""

from __future__ import annotations

from faultlab.assertions.catalog import hostd, vmkernel, vmksummary, vmware, vobd
from faultlab.assertions.catalog.base import Signature
from faultlab.assertions.model import LogKind, LogLine

# One entry per log kind module (and the PSOD console text, read in vmkernel logs and console captures).
SIGNATURES: dict[str, tuple[Signature, ...]] = {
    "vmkernel": vmkernel.SIGNATURES,
    "psod": vmkernel.PSOD,
    "vobd": vobd.SIGNATURES,
    "hostd": hostd.SIGNATURES,
    "vmware": vmware.SIGNATURES,
    "vmksummary": vmksummary.SIGNATURES,
}
_VMK = vmkernel.SIGNATURES + vmkernel.PSOD
BY_KIND: dict[LogKind, tuple[Signature, ...]] = {
    LogKind.VMKERNEL: _VMK,
    LogKind.VOBD: vobd.SIGNATURES,
    LogKind.HOSTD: hostd.SIGNATURES,
    LogKind.VMWARE: vmware.SIGNATURES,
    LogKind.VMKSUMMARY: vmksummary.SIGNATURES,
}
# OTHER logs (messages, syslog, console captures) carry lines of several programs: choose by program.
BY_PROGRAM: dict[str, tuple[Signature, ...]] = {
    "vmkernel": _VMK,
    "vmkwarning": _VMK,
    "vmkalert": _VMK,
    "vobd": vobd.SIGNATURES,
    "hostd": hostd.SIGNATURES,
    "logger": vmksummary.SIGNATURES,
    "vmkhalt": vmksummary.SIGNATURES,
    "bootstop": vmksummary.SIGNATURES,
    "heartbeat": vmksummary.SIGNATURES,
}


def signatures_for(line: LogLine) -> tuple[Signature, ...]:
    """The signatures that apply to a line: by log kind, or by program for mixed (OTHER) logs."""
    if line.kind is not LogKind.OTHER:
        return BY_KIND[line.kind]
    return BY_PROGRAM.get((line.program or "").lower(), vmkernel.PSOD)


# Prefilter: each signature's cheap pattern, once, plus the WinBSOD MSR lines that EventBuilder aggregates
# (Hyperscan- and POSIX-ERE-compatible: no \d, no lookaround, no named or non-capturing groups).
# False positives are fine, misses are bugs (tests/unit/assertions/test_catalog_samples.py).
PREFILTER: tuple[str, ...] = tuple(
    dict.fromkeys([*(s.prefilter for sigs in SIGNATURES.values() for s in sigs), vmware.MSR_PREFILTER])
)
# One POSIX ERE for `grep -E` equivalent to the union of PREFILTER.
GREP_UNION: str = "|".join(f"({p})" for p in PREFILTER)
