"""The fault ledger: one JSON file per run, written durably BEFORE a fault is applied, so any later run can heal it."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultlab.harness.atomic import write_atomic

LEDGER_VERSION = 1
OPEN_STATES = ("pending", "active")  # pending: written, maybe (partly) applied; active: verified in place


def process_start(pid: int) -> int | None:
    """Start time of a process (field 22 of /proc/<pid>/stat, clock ticks): tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])  # the command name (field 2) may hold spaces or ')'


def default_state_dir() -> Path:
    """/var/lib/faultlab/ledger as root, else $XDG_STATE_HOME (or ~/.local/state)/faultlab/ledger."""
    if os.geteuid() == 0:
        return Path("/var/lib/faultlab/ledger")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "faultlab" / "ledger"


@dataclass
class Entry:
    """One fault of a run: its description (Fault.to_dict()), state, and the dead-man timer on its node."""

    fault: dict[str, Any]
    state: str = "pending"
    timer_node: str | None = None
    timer_pid: int | None = None
    written_at: float = field(default_factory=time.time)
    healed_at: float | None = None
    note: str = ""

    @property
    def fault_id(self) -> str:
        return str(self.fault["fault_id"])

    @property
    def open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass
class Ledger:
    """The ledger file of one run. Every change is written through at once (atomic replace + fsync)."""

    path: Path
    run_id: str
    inventory: str | None = None
    owner_pid: int = field(default_factory=os.getpid)
    owner_host: str = field(default_factory=socket.gethostname)
    entries: list[Entry] = field(default_factory=list)
    owner_start: int | None = field(default_factory=lambda: process_start(os.getpid()))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def create(cls, run_id: str, state_dir: Path | None = None, inventory: str | Path | None = None) -> Ledger:
        ledger = cls(
            (state_dir or default_state_dir()) / f"{run_id}.json", run_id, str(inventory) if inventory else None
        )
        ledger.save()
        return ledger

    @classmethod
    def load(cls, path: Path) -> Ledger:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != LEDGER_VERSION:
            raise ValueError(f"{path}: unknown ledger version {data.get('version')!r}")
        return cls(
            path,
            data["run_id"],
            data.get("inventory"),
            int(data.get("owner_pid", 0)),
            str(data.get("owner_host", "")),
            [Entry(**e) for e in data.get("entries", [])],
            data.get("owner_start"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": LEDGER_VERSION,
            "run_id": self.run_id,
            "inventory": self.inventory,
            "owner_pid": self.owner_pid,
            "owner_host": self.owner_host,
            "owner_start": self.owner_start,
            "entries": [vars(e) for e in self.entries],
        }

    def save(self) -> None:
        with self._lock:  # faults of one run may be healed from several threads
            write_atomic(self.path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    def entry(self, fault_id: str) -> Entry | None:
        return next((e for e in self.entries if e.fault_id == fault_id), None)

    def record(self, fault: dict[str, Any]) -> Entry:
        """Write the fault down (state pending) before anything is applied; an existing entry is returned as is."""
        existing = self.entry(str(fault["fault_id"]))
        if existing is not None:
            return existing
        entry = Entry(fault=fault)
        self.entries.append(entry)
        self.save()
        return entry

    def update(self, fault_id: str, **changes: Any) -> Entry:
        entry = self.entry(fault_id)
        if entry is None:
            raise KeyError(f"{self.path}: no fault {fault_id!r}")
        for key, value in changes.items():
            setattr(entry, key, value)
        self.save()
        return entry

    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.open]

    def owner_alive(self) -> bool:
        """The run that wrote this ledger is still running on this machine (same pid and start time)."""
        if self.owner_host != socket.gethostname() or self.owner_pid <= 0:
            return False
        started = process_start(self.owner_pid)
        if started is None:
            return False
        return self.owner_start is None or started == self.owner_start

    def close_gone(self, why: str) -> None:
        """The lab under these faults no longer exists (taken down): nothing is left to heal. Every open entry is
        marked `gone` with `why`, then the file is removed (heal cannot reach a lab that is not there)."""
        for entry in self.open_entries():
            entry.state, entry.note, entry.healed_at = "gone", why, time.time()
        self.save()
        self.close()

    def close(self) -> bool:
        """Remove the file when every entry is healed (the run ended clean); True when removed."""
        if self.open_entries():
            return False
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        return True


def live_runs_on(inventory: Path, state_dir: Path | None = None) -> list[Ledger]:
    """The ledgers of runs still alive on this machine that act on the lab of `inventory` (same file, resolved)."""
    target = inventory.resolve()
    out: list[Ledger] = []
    for path in ledger_files(state_dir):
        try:
            ledger = Ledger.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # `faultlab heal` reports an unreadable ledger; it names no live run
        if ledger.inventory and Path(ledger.inventory).resolve() == target and ledger.owner_alive():
            out.append(ledger)
    return out


def ledger_files(state_dir: Path | None = None) -> Iterator[Path]:
    """The ledgers in a state folder, oldest first."""
    folder = state_dir or default_state_dir()
    if not folder.is_dir():
        return
    yield from sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
