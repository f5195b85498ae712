"""memory-leak: a process in an ESX 3.x/4.x Service Console that grows at a set rate until healed (KB 308590).

Over SSH it copies the COS's python to /tmp/faultlab-leak/<process> (so the kernel names the process <process>,
as ps and vmksummary show it: the default VMap is KB 308590's culprit, HA's agent) and runs a loop appending
`rate_kb_per_s` of written bytes every second, holding them. Heal kills it by the pid it recorded, after checking
that pid still runs the fault's tag. ESXi 5 and later have no Service Console: refused with the reason.
"""

from __future__ import annotations

import re
import shlex
from typing import ClassVar, Literal

from pydantic import Field

from faultlab.harness.faults.kinds.base import (
    FaultKind,
    FaultRef,
    FaultRefusedError,
    FaultSection,
    Params,
    PlanContext,
    Problem,
    exits_zero,
    run_line,
)
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Datastore, Inventory

LEAK_DIR = "/tmp/faultlab-leak"
# python 2.4 (ESX 4's COS) to 3.x: no bytearray, no f-strings. ' ' * n allocates and writes n bytes (resident).
_LOOP = "import sys,time\nheld=[]\nwhile 1:\n    held.append(' '*int(sys.argv[1])*1024)\n    time.sleep(1)\n"
# The interpreter's real binary (a `python3` on PATH may be a wrapper script, e.g. pyenv's shim): its copy runs
# under the copy's name. Works with the COS's python 2 and with python 3.
_WHERE = "'import sys; sys.stdout.write(sys.executable)'"
_PYTHON = f"{{ python3 -c {_WHERE} || python -c {_WHERE}; }} 2>/dev/null"
_CLASSIC = re.compile(r"^[34]\.")


class MemoryLeakFault(FaultSection):
    """A Service Console process that grows until healed (ESX 3.x/4.x hosts only)."""

    kind: Literal["memory-leak"]
    process: str = Field(default="VMap", pattern=r"^[A-Za-z0-9_.-]{1,15}$", description="the process name")
    rate_kb_per_s: int = Field(default=1024, ge=1, le=1 << 20, description="growth in kB per second")


class MemoryLeakParams(Params):
    process: str
    rate_kb_per_s: int

    @property
    def exe(self) -> str:
        return f"{LEAK_DIR}/{self.process}"


def _pid_file(ref: FaultRef) -> str:
    return f"{LEAK_DIR}/{re.sub(r'[^A-Za-z0-9_.-]', '_', ref.tag)}.pid"


def _ours(ref: FaultRef) -> str:
    """Shell: $p is set to the recorded pid when that process still carries the fault's tag."""
    return (
        f'p=$(cat {shlex.quote(_pid_file(ref))} 2>/dev/null) && [ -n "$p" ] && '
        f"tr '\\0' ' ' </proc/$p/cmdline 2>/dev/null | grep -qF -- {shlex.quote(ref.tag)}"
    )


class MemoryLeakKind(FaultKind[MemoryLeakFault, MemoryLeakParams]):
    name = "memory-leak"
    section = MemoryLeakFault
    params = MemoryLeakParams
    acts_on: ClassVar[Literal["target", "host"]] = "host"
    ends_itself: ClassVar[bool] = True  # KB 308590: the leak brings the host down, and the reboot kills it

    def check(self, section: MemoryLeakFault, inventory: Inventory) -> list[Problem]:
        problems = super().check(section, inventory)
        if problems:
            return problems
        version = inventory.host(section.on).version or ""
        if not _CLASSIC.match(version):
            return [
                Problem(
                    ("on",),
                    f"memory-leak needs a Service Console (ESX 3.x/4.x); host {section.on} is version "
                    f"{version or 'unknown'}: ESXi 5 and later have none, and no documented equivalent of KB 308590's "
                    "Lost Heartbeat exists there",
                )
            ]
        return []

    def affected_datastores(self, ctx: PlanContext, section: MemoryLeakFault) -> list[Datastore]:
        return []  # no storage is cut; the host's own VMs stop with it when it dies

    def plan(self, ctx: PlanContext, section: MemoryLeakFault) -> MemoryLeakParams:
        problems = self.check(section, ctx.inventory)
        if problems:
            raise FaultRefusedError(problems[0].message)
        return MemoryLeakParams(process=section.process, rate_kb_per_s=section.rate_kb_per_s)

    def inject(self, ref: FaultRef, params: MemoryLeakParams, client: Runner) -> None:
        if exits_zero(client, _ours(ref)):
            return  # already running
        exe, pid = shlex.quote(params.exe), shlex.quote(_pid_file(ref))
        line = (
            f'mkdir -p {LEAK_DIR} && cp "$({_PYTHON})" {exe} && '
            f"(nohup {exe} -c {shlex.quote(_LOOP)} {params.rate_kb_per_s} {shlex.quote(ref.tag)} "
            f">/dev/null 2>&1 </dev/null & echo $! > {pid})"
        )
        run_line(ref, client, line)

    def heal(self, ref: FaultRef, params: MemoryLeakParams, client: Runner) -> None:
        run_line(ref, client, self.heal_line(ref, params))

    def verify_active(self, ref: FaultRef, params: MemoryLeakParams, client: Runner) -> bool | None:
        """True while the process runs. Once it is gone nobody can tell a heal from the purple screen it causes
        (the COS dies and takes it along, KB 308590): None, not "removed by someone else"."""
        return True if exits_zero(client, _ours(ref)) else None

    def verify_healed(self, ref: FaultRef, params: MemoryLeakParams, client: Runner) -> bool | None:
        return not exits_zero(client, _ours(ref))

    def heal_line(self, ref: FaultRef, params: MemoryLeakParams) -> str:
        return f"{{ {_ours(ref)} && kill -9 $p; }}; rm -f {shlex.quote(_pid_file(ref))} {shlex.quote(params.exe)}; :"


KIND = MemoryLeakKind()
