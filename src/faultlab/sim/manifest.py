"""The manifest of one lab: everything it created, written before creating it, so `down` can undo a crash."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from faultlab.sim.topology import LAB_ID_RE, STATE_ROOT, Layout

LOCK_FILE = STATE_ROOT / ".lock"


@dataclass(slots=True)
class Manifest:
    """What a lab made. `owner_pid`/`owner_start` identify the process holding it (None: detached CLI lab)."""

    lab_id: str
    subnet: int
    hosts: int
    vm_names: list[str]
    owner_pid: int | None = None
    owner_start: int | None = None
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    created_vmfs_root: bool = False
    root_rules: list[list[str]] = field(default_factory=list)  # iptables rules in the root namespace
    state: str = "creating"  # creating -> up -> removing
    vcenter: bool = False  # the lab has the `vc` node (simulated vCenter)
    # Processes outside the nodes' own daemons that `down` stops by pid: name -> [pid, start time].
    pids: dict[str, list[int]] = field(default_factory=dict)
    vmfs_vm_names: list[str] = field(default_factory=list)  # VMs on the VMFS datastore
    timing: str = "fast"  # the hosts' timing profile: fast (lab-scaled) | real (ESXi's defaults and limits)

    @property
    def layout(self) -> Layout:
        return Layout(
            self.lab_id, self.subnet, self.hosts, tuple(self.vm_names), self.vcenter, tuple(self.vmfs_vm_names)
        )

    def record_pid(self, name: str, pid: int) -> None:
        """Remember a process (with its start time, so a reused pid is never signalled) and save."""
        self.pids[name] = [pid, process_start_time(pid) or 0]
        self.save()

    def live_pids(self) -> dict[str, int]:
        """The recorded processes that still run (same pid, same start time)."""
        return {n: p for n, (p, start) in self.pids.items() if process_start_time(p) == start}

    def save(self) -> None:
        path = self.layout.manifest_path
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(**data)

    def owner_alive(self) -> bool:
        """True when the owning process still runs (same pid and same start time: no pid reuse)."""
        if self.owner_pid is None:
            return False
        return process_start_time(self.owner_pid) == self.owner_start


def process_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), or None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its closing ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def all_manifests() -> list[Manifest]:
    """Manifests of every lab on this machine (unreadable ones are skipped; `down --all` finds them by name)."""
    found: list[Manifest] = []
    if not STATE_ROOT.is_dir():
        return found
    for path in sorted(STATE_ROOT.glob("*/manifest.json")):
        if LAB_ID_RE.match(path.parent.name):
            with contextlib.suppress(OSError, ValueError, TypeError):
                found.append(Manifest.load(path))
    return found


@contextlib.contextmanager
def allocation_lock() -> Iterator[None]:
    """Serialise lab id / subnet allocation between concurrent `lab up`s (pytest-xdist workers)."""
    STATE_ROOT.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
