"""KB diagnoses over catalog events, one module per KB, and the registry triage loops over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from faultlab.assertions.diagnose.common import Diagnosis, DiagVerdict, order
from faultlab.assertions.diagnose.kb308590 import KB_LOST_HB, diagnose_kb308590, diagnose_kb308590_hosts
from faultlab.assertions.diagnose.kb392634 import KB_BSOD, diagnose_kb392634
from faultlab.assertions.meminfo import memory_trends, parse_meminfo, process_role
from faultlab.assertions.model import Event

__all__ = [
    "DIAGNOSES",
    "KB_BSOD",
    "KB_LOST_HB",
    "DiagContext",
    "DiagVerdict",
    "Diagnosis",
    "KbDiagnosis",
    "diagnose_all",
    "diagnose_kb308590",
    "diagnose_kb308590_hosts",
    "diagnose_kb392634",
    "memory_trends",
    "order",
    "parse_meminfo",  # lives in meminfo.py; re-exported for triage
    "process_role",
]


@dataclass(frozen=True, slots=True)
class DiagContext:
    """What a diagnosis may read besides the events: the bundle's /proc/meminfo figures (kB), if any."""

    meminfo: dict[str, int] | None = None


@dataclass(frozen=True, slots=True)
class KbDiagnosis:
    """One KB's reading: its name and the function that turns every event of a bundle into diagnoses."""

    kb: str
    run: Callable[[Sequence[Event], DiagContext], list[Diagnosis]]


# Adding a diagnosis = one module in this package + one line here.
DIAGNOSES: tuple[KbDiagnosis, ...] = (
    KbDiagnosis(KB_BSOD, lambda events, _ctx: diagnose_kb392634(events)),
    KbDiagnosis(KB_LOST_HB, lambda events, ctx: diagnose_kb308590_hosts(events, ctx.meminfo)),
)


def diagnose_all(events: Sequence[Event], context: DiagContext | None = None) -> list[Diagnosis]:
    """Every registered KB's diagnoses of one bundle's events, in registry order."""
    ctx = context or DiagContext()
    return [d for kb in DIAGNOSES for d in kb.run(events, ctx)]
