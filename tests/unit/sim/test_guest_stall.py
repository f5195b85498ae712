"""The guest's disk TimeOutValue watchdog across a reboot: only an I/O the running boot issued can doom it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar, cast

import pytest

from faultlab.sim.config import VmConfig
from faultlab.sim.esxi.guest.vm import Vmx
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.storage.dsio import FileClient, VmVolume

T = TypeVar("T")
DISK = "/win01/win01.vmdk"
TIMEOUT_S = 0.4  # the guest's disk TimeOutValue here (the watchdog looks every 50 ms)


class GatedClient:
    """A datastore client over a dict of files whose writes to the VM's disk wait while `gate` is closed (a stalled
    NFS write); reads (the boot's verification) and other files go through at once."""

    def __init__(self, files: dict[str, bytearray], gate: threading.Event, stop: threading.Event) -> None:
        self.files, self.gate, self.stop = files, gate, stop
        self.lock = threading.Lock()

    def write(self, path: str, offset: int, data: bytes, *, create: bool = True, sync: bool = True) -> None:
        while path == DISK and not self.gate.wait(0.01):
            if self.stop.is_set():
                return
        f = self.files.setdefault(path, bytearray())
        f[len(f) :] = bytes(max(0, offset + len(data) - len(f)))
        f[offset : offset + len(data)] = data

    def read(self, path: str, offset: int = 0, length: int = 65536) -> bytes:
        return bytes(self.files.get(path, b"")[offset : offset + length])

    def stat(self, path: str) -> int:
        return len(self.files.get(path, b""))

    def mkdir(self, path: str) -> None:
        pass

    def close(self) -> None:
        pass


class GatedVolume:
    """What Vmx needs of its datastore (dsio.VmVolume); the VM's I/O and verification share no lock here, so the
    boot does not wait for the stalled write (the NFS client's lock would hide the case, not remove it)."""

    def __init__(self) -> None:
        self.files: dict[str, bytearray] = {}
        self.gate = threading.Event()
        self.stop = threading.Event()
        self.name = "ds-nfs01"
        self.volume_uuid = "5c1f0a2b-7e3d4f61"

    def client(self, timeout_ms: int | None = None) -> GatedClient:
        return GatedClient(self.files, self.gate, self.stop)

    def run_io(self, kind: str, client: FileClient, op: Callable[[FileClient], T]) -> T:
        return op(client)


def wait_for(what: str, cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def guest(tmp_path: Path) -> Iterator[tuple[Vmx, GatedVolume]]:
    """A running guest whose I/O loop and watchdog run for real against the gated datastore (gate open)."""
    volume = GatedVolume()
    volume.gate.set()
    cfg = {
        "name": "win01", "datastore": "ds-nfs01", "vmx_file": "/win01/win01.vmx", "disk_file": DISK,
        "guest": {"boot_s": 0.2, "disk_timeout_s": TIMEOUT_S, "io_interval_s": 0.02, "crash_delay_s": 0.05},
    }  # fmt: skip
    vm = Vmx(1, cast(VmConfig, cfg), cast(VmVolume, volume), HostLogs(tmp_path / "log", "8.0", "esx01", 1.0), "8.0")
    vm.start()
    wait_for("acknowledged guest writes", lambda: vm.snapshot()["writesAcked"] >= 3)
    yield vm, volume
    volume.stop.set()


def stall_in_flight(vm: Vmx, volume: GatedVolume) -> None:
    volume.gate.clear()
    wait_for("a guest write in flight", lambda: vm.snapshot()["currentStall_s"] > 0.05)


def test_an_io_stalled_past_timeoutvalue_dooms_the_running_guest(guest: tuple[Vmx, GatedVolume]) -> None:
    vm, volume = guest
    stall_in_flight(vm, volume)
    wait_for("the guest doomed by its stalled write", lambda: vm.snapshot()["guestState"] == "doomed")
    assert vm.snapshot()["currentStall_s"] >= TIMEOUT_S
    volume.gate.set()  # storage back: the doomed write completes and the guest bugchecks
    wait_for("the bugcheck", lambda: vm.snapshot()["crashes"] == 1)


def test_an_io_issued_before_a_clean_reboot_does_not_doom_the_new_boot(guest: tuple[Vmx, GatedVolume]) -> None:
    vm, volume = guest
    stall_in_flight(vm, volume)
    assert vm.reboot(wait=False)["rebooted"] is True
    wait_for("the guest back with Tools", lambda: vm.snapshot()["guestHeartbeatStatus"] == "green")
    assert vm.snapshot()["boots"] == 2
    # The write from before the reset is still outstanding, now well past TimeOutValue, with the watchdog looking.
    wait_for("the old write stalled past TimeOutValue", lambda: vm.snapshot()["currentStall_s"] >= 2 * TIMEOUT_S)
    assert vm.snapshot()["guestState"] == "running"
    acked = vm.snapshot()["writesAcked"]
    volume.gate.set()
    wait_for("guest writes acknowledged again", lambda: vm.snapshot()["writesAcked"] >= acked + 3)
    snap = vm.snapshot()
    assert (snap["guestState"], snap["crashes"], snap["guestHeartbeatStatus"]) == ("running", 0, "green")
