"""The harness's esxi-path-off fault, run for real on the embedded lab: path off -> APD start, active -> APD exit.

One simulated ESXi host with an NFS datastore (the VM) and a VMFS datastore on a real tgtd LUN (no VM). The fault is
planned, injected and healed by the harness over SSH exactly as on a real host; the checks read `esxcli storage core
path list`, the host's TCP connections to the iSCSI portal, and vobd through log cursors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from faultlab.harness.cursors import LogCursors, esxi_log_paths, watch
from faultlab.harness.faults import FaultRefusedError, Injector, plan_fault, wait_for
from faultlab.harness.ledger import Ledger
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import Inventory, load_inventory
from faultlab.lab.ssh import SshPool
from faultlab.sim.lab import EmbeddedLab
from tests.lab.conftest import lun_devices, lun_paths

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

# The host's logins to the portal, counted from outside its ESXi shell (which, like ESXi, has no `ss`).
ISCSI_SESSIONS = ["sh", "-c", "ss -Htn state established '( dport = :3260 )' | wc -l"]


LAB_SHAPE = {"hosts": 1, "vms": 1, "vcenter": False}


@pytest.fixture(scope="module")
def embedded(embedded_lab: EmbeddedLab) -> Inventory:
    return load_inventory(embedded_lab.inventory_path)


@pytest.fixture
def pool(embedded: Inventory) -> Iterator[SshPool]:
    with SshPool(embedded, command_timeout=30) as p:
        yield p


def _vobd_time(data: bytes, event_id: bytes, subject: str) -> float | None:
    """Epoch seconds of the first vobd line carrying `event_id` for `subject` (the line's own timestamp)."""
    for line in data.splitlines():
        if b"[" + event_id + b"]" in line and subject.encode() in line:
            return datetime.fromisoformat(line.split()[0].decode().rstrip(":")).timestamp()
    return None


def test_vmfs_path_off_is_apd_on_that_device_and_heal_brings_it_back(
    embedded: Inventory,
    embedded_lab: EmbeddedLab,
    pool: SshPool,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    def sessions() -> str:
        return str(embedded_lab.run_in("esx01", ISCSI_SESSIONS).stdout).strip()

    vmfs = next(d for d in embedded.datastores if d.type == "vmfs")
    assert vmfs.naa_id is not None
    host = EsxiHost.of(embedded, "esx01", pool.get("esx01"))
    vobd = f"{host.host.log_dir.rstrip('/')}/vobd.log"
    cursors = LogCursors(pool.get("esx01"), esxi_log_paths(host.host.log_dir), "esx01")
    assert wait_for(lambda: [p.state for p in lun_paths(host)] == ["active"], 60, 0.5), "the LUN's path is not up"
    assert wait_for(lambda: host.nfs_mounts()[0].accessible, 60, 0.5)
    vm = host.vms()[0]
    apd_timeout_s = host.advanced_setting("Misc.APDTimeout")
    assert isinstance(apd_timeout_s, int)
    assert host.power_state(vm.vmid) == "poweredOn"

    # The NFS datastore holds a VM the scenario does not name: switching "its" paths off is refused.
    with pytest.raises(FaultRefusedError) as refused:
        plan_fault(embedded, {"kind": "esxi-path-off", "on": "esx01"}, run_id="po0", scenario_vms=[], hold_s=30,
                   datastore="ds-nfs01")  # fmt: skip
    assert refused.value.vms == (vm.name,)
    # The VMFS datastore holds no VM: nobody to name, the fault is planned for its device only.
    fault = plan_fault(embedded, {"kind": "esxi-path-off", "on": "esx01"}, run_id="po1", scenario_vms=[], hold_s=30,
                       datastore=vmfs.name)  # fmt: skip
    assert fault.params == {"devices": [vmfs.naa_id]}

    ledger = Ledger.create("po1", tmp_path)
    injector = Injector(pool, ledger)
    cursors.mark()
    esx = pool.get("esx01")
    # A fresh lab lists the path active before its first heartbeat has logged in: wait for that login.
    assert wait_for(lambda: sessions() == "1", 30, 0.2), "the host never logged in to the portal"
    injected_at = datetime.now().timestamp()
    injector.inject(fault)
    try:
        assert fault.params["paths"] == [p.runtime_name for p in lun_paths(host)]
        assert fault.verify_active(pool) is True
        listing = esx.run(["esxcli", "storage", "core", "path", "list"])
        assert listing.exit_status == 0 and "   State: off\n" in listing.stdout
        print(f"$ esxcli storage core path list  (path off)\n{listing.stdout}")
        assert watch({"esx01": cursors}, lambda h, p, d: b"vob.storage.apd.start" in d, timeout_s=20, interval_s=0.2)
        assert wait_for(lambda: sessions() == "0", 5, 0.2), "still logged in while off"
        # The NFS datastore and its VM are not touched.
        assert host.nfs_mounts()[0].accessible and host.power_state(vm.vmid) == "poweredOn"
        assert [d.status for d in lun_devices(host)] == ["dead"]
        # Held past Misc.APDTimeout (seconds on this lab): the VMFS heartbeat times out, then the APD timeout.
        assert watch({"esx01": cursors}, lambda h, p, d: b"esx.problem.storage.apd.timeout" in d,
                     timeout_s=apd_timeout_s + 10, interval_s=0.2)  # fmt: skip
    finally:
        healed_at = datetime.now().timestamp()
        outcome = injector.heal(fault)
    assert outcome.status == "healed", outcome.line()
    active = wait_for(lambda: [p.state for p in lun_paths(host)] == ["active"], 10, 0.1)
    assert active, f"State after heal: {[p.state for p in lun_paths(host)]}"
    print("$ esxcli storage core path list  (healed)\n" + esx.run(["esxcli", "storage", "core", "path", "list"]).stdout)
    # Both can land in one tail round (the first heartbeat write ends APD and reclaims): read all since the mark.
    back = (b"vob.storage.apd.exit", b"vob.vmfs.heartbeat.recovered")
    assert wait_for(lambda: all(e in cursors.collect()[vobd].data for e in back), 20, 0.2), "no APD exit / reclaim"
    assert wait_for(lambda: sessions() == "1", 10, 0.2), "no login after active"
    assert ledger.close()

    logs = cursors.collect()
    data = logs[vobd].data
    start = _vobd_time(data, b"vob.storage.apd.start", vmfs.naa_id)
    timeout = _vobd_time(data, b"vob.storage.apd.timeout", vmfs.naa_id)
    end = _vobd_time(data, b"vob.storage.apd.exit", vmfs.naa_id)
    assert start is not None and timeout is not None and end is not None and start < timeout < end
    assert apd_timeout_s <= timeout - start < apd_timeout_s + 1.0
    assert vmfs.volume_uuid is not None
    hb_lost = _vobd_time(data, b"esx.problem.vmfs.heartbeat.timedout", vmfs.volume_uuid)
    hb_back = _vobd_time(data, b"vob.vmfs.heartbeat.recovered", vmfs.volume_uuid)
    assert hb_lost is not None and hb_back is not None and start < hb_lost < end <= hb_back
    apd_lines = [line for line in data.splitlines() if b"[vob.storage.apd." in line]
    assert apd_lines and all(vmfs.naa_id.encode() in line for line in apd_lines)  # the NFS volume never in APD
    assert b"pathstate" not in data  # none documented for an administrative off/active
    print("vobd since the mark:\n" + data.decode())
    record_property("path_off_to_apd_start_s", round(start - injected_at, 3))
    record_property("heal_to_apd_exit_s", round(end - healed_at, 3))
    record_property("apd_start_to_timeout_s", round(timeout - start, 3))
    print(f"inject called -> APD start {start - injected_at:.3f} s; APD start -> timeout {timeout - start:.3f} s "
          f"(Misc.APDTimeout {apd_timeout_s}); heal called -> APD exit {end - healed_at:.3f} s, "
          f"-> heartbeat reclaimed {hb_back - healed_at:.3f} s")  # fmt: skip


def test_a_path_left_off_by_a_dead_harness_is_switched_back_by_the_dead_man_timer(
    embedded: Inventory, pool: SshPool, tmp_path: Path
) -> None:
    """The harness injects and then never heals (as if killed): the timer on the host sets the path active after
    hold + grace, the datastore's device comes back, and a later heal from the ledger finds it healed by the timer."""
    from faultlab.harness.faults.deadman import timer_fired

    vmfs = next(d for d in embedded.datastores if d.type == "vmfs")
    host = EsxiHost.of(embedded, "esx01", pool.get("esx01"))
    assert wait_for(lambda: [p.state for p in lun_paths(host)] == ["active"], 60, 0.5), "the LUN's path is not up"
    fault = plan_fault(embedded, {"kind": "esxi-path-off", "on": "esx01"}, run_id="po2", scenario_vms=[], hold_s=1,
                       grace_s=2, datastore=vmfs.name)  # fmt: skip
    ledger = Ledger.create("po2", tmp_path)
    Injector(pool, ledger).inject(fault)
    assert [p.state for p in lun_paths(host)] == ["off"]
    # No heal from here: only the timer on the host can bring the path back (after 1 s hold + 2 s grace).
    assert wait_for(lambda: timer_fired(pool.get("esx01"), fault.tag), 30, 0.5), "the dead-man timer did not heal"
    assert [p.state for p in lun_paths(host)] in (["active"], ["dead"])  # active, or dead until the first probe
    assert wait_for(lambda: [p.state for p in lun_paths(host)] == ["active"], 30, 0.5)
    outcome = Injector(pool, Ledger.load(ledger.path)).heal(fault)
    assert (outcome.status, outcome.ok) == ("healed by timer", True)
