"""`lab up` with the simulated vCenter: the harness's inventory reaches it over verified TLS, it holds the lab's
hosts/datastores/VMs, and a real NFS cut on the NFS node shows up there (APD mount state, guest heartbeat,
host EventEx) and recovers; `down` leaves no process behind."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from faultlab.harness.cli.lab import lab_app
from faultlab.lab.inventory import Inventory, load_inventory
from faultlab.lab.vsphere import PropertyChange, PropertyWatch, VsphereEvent, VsphereSession
from faultlab.sim import labvcenter, netns
from faultlab.sim.lab import EmbeddedLab, vcenter_env
from faultlab.sim.manifest import Manifest, process_start_time
from faultlab.sim.topology import NFS_DATASTORE, STATE_ROOT
from faultlab.sim.vcenter import PASSWORD_ENV

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root (network namespaces)"),
]

APD_START = "esx.problem.storage.apd.start"
APD_EXIT = "esx.clear.storage.apd.exit"
CUT_TAG = "faultlab-test-vcenter-cut"


def lab_processes(lab_id: str) -> list[str]:
    """Every process whose command line names the lab's state dir (daemons, hosts, vcsim, bridge)."""
    needle = str(STATE_ROOT / lab_id)
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if needle in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


def assert_gone(manifest: Manifest, recorded: set[str]) -> None:
    assert set(manifest.pids) == recorded
    for name, (pid, start) in manifest.pids.items():
        assert process_start_time(pid) != start, f"{name} (pid {pid}) still runs after down"
    assert lab_processes(manifest.lab_id) == []
    assert not set(manifest.namespaces) & set(netns.list_netns())


@pytest.fixture(scope="module")
def lab() -> Iterator[EmbeddedLab]:
    the_lab = EmbeddedLab.create(hosts=1, vms=1)
    try:
        yield the_lab
    finally:
        the_lab.down()
    assert_gone(the_lab.manifest, {"vcsim", "vc-bridge"})


@pytest.fixture(scope="module")
def inventory(lab: EmbeddedLab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def session(lab: EmbeddedLab, inventory: Inventory) -> Iterator[VsphereSession]:
    assert inventory.vcenter is not None
    # The password only through the environment mapping, as the harness gets it (never in the inventory).
    with VsphereSession(inventory.vcenter, environ=vcenter_env(lab), timeout=30) as s:
        yield s


def test_inventory_points_at_the_vc_node_with_tls_verified(lab: EmbeddedLab, inventory: Inventory) -> None:
    vc = inventory.vcenter
    assert vc is not None and lab.vcenter is not None
    assert (vc.address, vc.port) == (lab.layout.vc_node.ip, 443)
    assert vc.tls.verify and vc.tls.ca_file == lab.vcenter.cert_file and vc.tls.thumbprint is None
    password = vcenter_env(lab)[PASSWORD_ENV]
    assert len(password) >= 16 and password not in lab.inventory_path.read_text()
    assert lab.vcenter.password_file.stat().st_mode & 0o077 == 0
    assert lab.bridge is not None and lab.bridge.alive() and lab.vcenter.alive()
    assert labvcenter.binary_cached()  # the build-notice check agrees with the launcher's cache layout
    # vcsim lives in the vc node's namespace (so down's namespace sweep would end it too).
    assert lab.vcenter.pid in netns.netns_pids(lab.layout.vc_node.netns)


def test_vcenter_holds_the_labs_hosts_datastores_vms(
    lab: EmbeddedLab, inventory: Inventory, session: VsphereSession
) -> None:
    assert session.about["apiType"] == "VirtualCenter"
    assert session.names("HostSystem") == [h.name for h in inventory.hosts] == ["esx01"]
    assert session.names("Datastore") == sorted(d.name for d in inventory.datastores)
    assert session.names("VirtualMachine") == [v.name for v in inventory.vms] == ["win01"]
    nfs = session.retrieve("Datastore", ["summary.url", "summary.type", "summary.accessible", "host"], [NFS_DATASTORE])
    ds = nfs[NFS_DATASTORE]
    assert ds["summary.url"] == str(lab.layout.export_dir) == inventory.target("nfs01").export_dir
    assert ds["summary.type"] == "NFS" and ds["summary.accessible"] is True
    assert ds["host"][0]["key"] == "esx01"
    assert ds["host"][0]["mountInfo"]["path"] == f"/vmfs/volumes/{lab.layout.nfs_volume_uuid}"
    vm = session.retrieve("VirtualMachine", ["runtime.host", "runtime.powerState", "guestHeartbeatStatus"])["win01"]
    assert vm == {"runtime.host": "esx01", "runtime.powerState": "poweredOn", "guestHeartbeatStatus": "green"}


def apd_timeout_s(lab: EmbeddedLab) -> int:
    out = lab.run_in("esx01", ["esxcli", "system", "settings", "advanced", "list", "-o", "/Misc/APDTimeout"]).stdout
    m = re.search(r"^\s*Int Value: (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1))


def nfs_cut(lab: EmbeddedLab, action: str) -> None:
    """A blackhole between esx01 and the NFS server: iptables DROP in the NFS node's namespace, tagged."""
    rule = ["INPUT", "-s", lab.node("esx01").ip, "-m", "comment", "--comment", CUT_TAG, "-j", "DROP"]
    argv = ["ip", "netns", "exec", lab.node("nfs01").netns, "iptables", action, *rule]
    subprocess.run(argv, check=True, capture_output=True, timeout=10)


def mount_reason(change: PropertyChange) -> str | None:
    if change.path != "host":
        return None
    info = next(m["mountInfo"] for m in change.value if m["key"] == "esx01")
    return "" if info.get("accessible") else str(info.get("inaccessibleReason"))


def accessible_is(value: bool) -> Callable[[PropertyChange], bool]:
    return lambda c: c.path == "summary.accessible" and c.value is value


class History:
    """Every change a watch delivered, with the monotonic time it arrived. `until` searches from a mark, so a
    change that came in the same WaitForUpdatesEx batch as an earlier match is not lost."""

    def __init__(self, watch: PropertyWatch) -> None:
        self.watch = watch
        self.changes: list[tuple[float, PropertyChange]] = []
        self.matched = -1  # index of the change the last `until` found

    def mark(self) -> int:
        return len(self.changes)

    def until(self, condition: Callable[[PropertyChange], bool], timeout: float, since: int = 0) -> float:
        """The arrival time of the first change after `since` that satisfies `condition` (waits for it)."""
        deadline = time.monotonic() + timeout
        checked = since
        while True:
            for i in range(checked, len(self.changes)):
                if condition(self.changes[i][1]):
                    self.matched = i
                    return self.changes[i][0]
            checked = len(self.changes)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching change within {timeout}s: {[c for _, c in self.changes[since:]]}")
            batch = self.watch.wait(max(1, min(5, int(left + 0.999))))
            now = time.monotonic()
            self.changes += [(now, c) for c in batch]


def wait_event(session: VsphereSession, since: datetime, type_id: str, timeout: float = 20) -> VsphereEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = session.events(since, event_type_ids=[type_id])
        if found:
            return found[0]
        time.sleep(0.3)  # the bridge forwards host events every 0.2 s; vcsim has no event wait
    raise AssertionError(f"no {type_id} event within {timeout}s")


def test_nfs_cut_past_apd_timeout_is_seen_and_recovers_in_vcenter(lab: EmbeddedLab, session: VsphereSession) -> None:
    apd_timeout = apd_timeout_s(lab)
    began = datetime.now(UTC) - timedelta(seconds=1)
    seen: dict[str, float] = {}
    with (
        session.watch("Datastore", ["summary.accessible", "host"], [NFS_DATASTORE]) as ds_watch,
        session.watch("VirtualMachine", ["guestHeartbeatStatus"], ["win01"]) as vm_watch,
    ):
        assert any(accessible_is(True)(c) for c in ds_watch.initial)
        ds, vm = History(ds_watch), History(vm_watch)
        cut = time.monotonic()
        nfs_cut(lab, "-I")
        try:
            seen["apd_start"] = ds.until(lambda c: mount_reason(c) == "AllPathsDown_Start", timeout=30) - cut
            seen["inaccessible"] = ds.until(accessible_is(False), timeout=5) - cut
            timed_out = ds.until(lambda c: mount_reason(c) == "AllPathsDown_Timeout", timeout=apd_timeout + 10)
            seen["apd_timeout"] = timed_out - cut
            # The host declares APD timeout Misc.APDTimeout after APD start (vcsim's 0.25-0.5 s tick aside).
            assert seen["apd_timeout"] - seen["apd_start"] >= apd_timeout - 0.6
            ev = wait_event(session, began, APD_START)
            assert (ev.type, ev.host, ev.datastore) == ("EventEx", "esx01", NFS_DATASTORE)
            assert lab.layout.nfs_volume_uuid in ev.message
        finally:
            nfs_cut(lab, "-D")
        healed, ds_mark = time.monotonic(), ds.mark()
        seen["accessible"] = ds.until(accessible_is(True), timeout=30, since=ds_mark) - healed
        assert ds.until(lambda c: mount_reason(c) == "", timeout=5, since=ds_mark)
        # The doomed guest bugchecks when its stalled I/O completes (KB 392634): heartbeat red, then green.
        seen["heartbeat_red"] = vm.until(lambda c: c.value == "red", timeout=30) - healed
        seen["heartbeat_green"] = vm.until(lambda c: c.value == "green", timeout=30, since=vm.matched + 1) - healed
        assert {c.name for _, c in vm.changes} == {"win01"}
    exit_ev = wait_event(session, began, APD_EXIT)
    assert (exit_ev.host, exit_ev.datastore) == ("esx01", NFS_DATASTORE)
    assert exit_ev.time >= wait_event(session, began, APD_START).time
    crashed = wait_event(session, began, "VmGuestOSCrashedEvent")
    assert crashed.vm == "win01"
    final = session.retrieve("Datastore", ["summary.accessible", "host"], [NFS_DATASTORE])[NFS_DATASTORE]
    assert final["summary.accessible"] is True and final["host"][0]["mountInfo"]["accessible"] is True
    print("vCenter saw (s):", {k: round(v, 2) for k, v in seen.items()})


def test_cli_up_prints_the_vcenter_without_its_password_and_down_leaves_nothing() -> None:
    runner = CliRunner()
    up = runner.invoke(lab_app, ["up", "--hosts", "1", "--vms", "1", "--no-esxi-host"])
    assert up.exit_code == 0, up.output
    lab_id = re.search(r"^lab (fl[0-9a-f]{4}) up", up.output, re.M)
    assert lab_id, up.output
    manifest = Manifest.load(STATE_ROOT / lab_id.group(1) / "manifest.json")
    try:
        password = vcenter_env(manifest)[PASSWORD_ENV]
        assert f"vCenter: https://{manifest.layout.vc_node.ip}:443/sdk" in up.output
        assert password not in up.output
        assert lab_processes(manifest.lab_id)
    finally:
        down = runner.invoke(lab_app, ["down", lab_id.group(1)])
    assert down.exit_code == 0, down.output
    assert_gone(manifest, {"vcsim"})  # no host processes: nothing for a bridge to forward


def test_no_vcenter_lab_has_no_vc_node() -> None:
    with EmbeddedLab.up(hosts=1, vms=1, start_hosts=False, vcenter=False) as lab:
        assert lab.vcenter is None and lab.bridge is None and lab.manifest.pids == {}
        assert "vc" not in [n.name for n in lab.layout.nodes]
        assert load_inventory(lab.inventory_path).vcenter is None
        assert not any(ns.endswith("-vc") for ns in lab.manifest.namespaces)
    assert lab_processes(lab.lab_id) == []
