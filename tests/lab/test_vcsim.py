"""The simulated vCenter (sim/vcenter) seen through lab/vsphere.py: inventory, pushed state, watches, events, TLS.

Runs the real launcher binary on 127.0.0.1 (a free port) and talks SOAP to it with pyVmomi; the first run
builds the launcher with Debian's Go (tens of seconds), later runs reuse the cached binary.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.lab import vsphere
from faultlab.lab.credentials import SecretRef
from faultlab.lab.errors import AuthenticationError, HostKeyError, LabError, UnreachableError
from faultlab.lab.inventory import ApiEndpoint, Inventory, Tls
from faultlab.lab.vsphere import PropertyChange, VsphereSession
from faultlab.sim.errors import LabError as SimLabError
from faultlab.sim.esxi.control import ControlServer
from faultlab.sim.vcenter import (
    DatastoreState,
    HostEvent,
    HostState,
    VcDatastore,
    VcenterHandle,
    VcenterSpec,
    VcHost,
    VcVm,
    VmState,
    bridge,
    ensure_binary,
    new_password,
    start,
    start_bridge,
)

pytestmark = pytest.mark.lab

ENV = "FAULTLAB_TEST_VC_PASSWORD"
APD_START = "esx.problem.storage.apd.start"
APD_EXIT = "esx.clear.storage.apd.exit"


@dataclass(frozen=True)
class Lab:
    handle: VcenterHandle
    spec: VcenterSpec
    export: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("vcsim")
    export = root / "export" / "ds-nfs01"
    export.mkdir(parents=True)
    (export / "win01").mkdir()
    (export / "win01" / "win01.vmx").write_text('displayName = "win01"\n')
    spec = VcenterSpec(
        address="127.0.0.1",
        port=0,
        password=new_password(),
        hosts=(VcHost("esx01", "198.18.1.11"), VcHost("esx02", "198.18.1.12")),
        datastores=(
            VcDatastore(
                "ds-nfs01",
                "nfs",
                ("esx01",),
                path=str(export),
                remote_host="198.18.1.21",
                remote_path="/ds-nfs01",
                volume_uuid="5c1f0a2b-7e3d4f61",
            ),
            VcDatastore("ds-iscsi01", "vmfs", ("esx01", "esx02"), naa_id="naa.6001405f00d", volume_uuid="6a1b2c3d"),
        ),
        vms=(
            VcVm("win01", "esx01", "ds-nfs01", "[ds-nfs01] win01/win01.vmx"),
            VcVm("win02", "esx02", "ds-iscsi01"),
        ),
    )
    handle = start(root / "vcenter", spec)
    try:
        yield Lab(handle, spec, export)
    finally:
        handle.stop()
    assert not handle.alive(), "the launcher must be gone after stop()"


@pytest.fixture
def env(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, lab.spec.password)


def endpoint(lab: Lab, tls: Tls, password_env: str = ENV) -> ApiEndpoint:
    return ApiEndpoint(
        address="127.0.0.1", port=lab.handle.port, user=lab.spec.user, password=SecretRef(password_env), tls=tls
    )


@pytest.fixture
def session(lab: Lab, env: None) -> Iterator[VsphereSession]:
    with VsphereSession(endpoint(lab, Tls(ca_file=lab.handle.cert_file)), timeout=30) as s:
        yield s


def test_binary_is_cached_after_first_build(lab: Lab) -> None:
    again = ensure_binary()
    assert again.built is False and again.binary.exists()


def test_inventory_hosts_datastores_vms(lab: Lab, session: VsphereSession) -> None:
    assert session.about["apiType"] == "VirtualCenter"
    assert session.names("HostSystem") == ["esx01", "esx02"]
    assert session.names("Datastore") == ["ds-iscsi01", "ds-nfs01"]
    assert session.names("VirtualMachine") == ["win01", "win02"]
    ds = session.retrieve(
        "Datastore", ["summary.url", "summary.type", "summary.accessible", "host", "info.nas.remoteHost"]
    )
    nfs, vmfs = ds["ds-nfs01"], ds["ds-iscsi01"]
    assert nfs["summary.url"] == str(lab.export)  # the NFS datastore's path is the export folder
    assert nfs["summary.type"] == "NFS" and nfs["info.nas.remoteHost"] == "198.18.1.21"
    assert [m["key"] for m in nfs["host"]] == ["esx01"]
    assert nfs["host"][0]["mountInfo"]["path"] == "/vmfs/volumes/5c1f0a2b-7e3d4f61"
    assert vmfs["summary.type"] == "VMFS" and sorted(m["key"] for m in vmfs["host"]) == ["esx01", "esx02"]
    assert all(d["summary.accessible"] is True for d in ds.values())
    vms = session.retrieve(
        "VirtualMachine",
        [
            "runtime.host",
            "runtime.powerState",
            "guestHeartbeatStatus",
            "guest.toolsRunningStatus",
            "summary.config.vmPathName",
        ],
    )
    assert vms["win01"]["runtime.host"] == "esx01" and vms["win02"]["runtime.host"] == "esx02"
    assert vms["win01"]["summary.config.vmPathName"] == "[ds-nfs01] win01/win01.vmx"
    assert {v["runtime.powerState"] for v in vms.values()} == {"poweredOn"}
    assert {v["guestHeartbeatStatus"] for v in vms.values()} == {"green"}
    quick = session.retrieve("VirtualMachine", ["summary.quickStats.guestHeartbeatStatus"])
    assert {v["summary.quickStats.guestHeartbeatStatus"] for v in quick.values()} == {"green"}
    assert {v["guest.toolsRunningStatus"] for v in vms.values()} == {"guestToolsRunning"}
    # The launcher's own VM files never land in the export folder next to the lab's real files.
    assert sorted(p.name for p in (lab.export / "win01").iterdir()) == ["win01.vmx"]


def _is(path: str, value: Any) -> Any:
    return lambda c: c.path == path and c.value == value


def _mount(change: PropertyChange, host: str) -> dict[str, Any]:
    return next(m["mountInfo"] for m in change.value if m["key"] == host)


def test_fault_and_recovery_through_watch_and_events(lab: Lab, session: VsphereSession) -> None:
    began = datetime.now(UTC) - timedelta(seconds=1)
    with (
        session.watch("Datastore", ["summary.accessible", "host"], names=["ds-nfs01"]) as ds_watch,
        session.watch("VirtualMachine", ["guestHeartbeatStatus", "runtime.powerState"], names=["win01"]) as vm_watch,
    ):
        assert {(c.path, c.kind) for c in ds_watch.initial} == {("summary.accessible", "enter"), ("host", "enter")}
        assert any(c.path == "summary.accessible" and c.value is True for c in ds_watch.initial)
        assert ds_watch.wait(1) == []  # nothing pushed yet: the server-side wait times out empty

        lab.handle.push(
            datastores=[DatastoreState("ds-nfs01", accessible=False, inaccessible_reason="AllPathsDown_Start")],
            vms=[VmState("win01", guest_heartbeat_status="red")],
            events=[
                HostEvent(
                    APD_START,
                    "Device or filesystem with identifier [5c1f0a2b-7e3d4f61] has entered the All Paths Down state.",
                    host="esx01",
                    datastore="ds-nfs01",
                    arguments={"1": "5c1f0a2b-7e3d4f61"},
                )
            ],
        )
        down = ds_watch.wait_for(_is("summary.accessible", False), timeout=10)
        mounts = [c for c in down if c.path == "host"]
        assert mounts and _mount(mounts[-1], "esx01") == {
            "path": "/vmfs/volumes/5c1f0a2b-7e3d4f61",
            "accessMode": "readWrite",
            "mounted": True,
            "accessible": False,
            "inaccessibleReason": "AllPathsDown_Start",
        }
        red = vm_watch.wait_for(_is("guestHeartbeatStatus", "red"), timeout=10)
        quick = session.retrieve("VirtualMachine", ["summary.quickStats.guestHeartbeatStatus"], names=["win01"])
        assert quick["win01"]["summary.quickStats.guestHeartbeatStatus"] == "red"
        assert red[-1].name == "win01" and red[-1].time >= began

        lab.handle.push(datastores=[DatastoreState("ds-nfs01", inaccessible_reason="AllPathsDown_Timeout")])
        timeout = ds_watch.wait_for(lambda c: c.path == "host", timeout=10)
        assert _mount(timeout[-1], "esx01")["inaccessibleReason"] == "AllPathsDown_Timeout"

        lab.handle.push(
            datastores=[DatastoreState("ds-nfs01", accessible=True, inaccessible_reason="")],
            vms=[VmState("win01", guest_heartbeat_status="green")],
            events=[HostEvent(APD_EXIT, "Device or filesystem with identifier [x] has exited the All Paths Down state.",
                              host="esx01", datastore="ds-nfs01", severity="info")],
        )  # fmt: skip
        up = ds_watch.wait_for(_is("summary.accessible", True), timeout=10)
        assert "inaccessibleReason" not in _mount([c for c in up if c.path == "host"][-1], "esx01")
        vm_watch.wait_for(_is("guestHeartbeatStatus", "green"), timeout=10)
        assert red[-1].time <= up[-1].time

    events = session.events(began, event_type_ids=[APD_START, APD_EXIT])
    assert [e.event_type_id for e in events] == [APD_START, APD_EXIT]
    start_ev = events[0]
    assert (start_ev.type, start_ev.host, start_ev.datastore, start_ev.severity) == (
        "EventEx",
        "esx01",
        "ds-nfs01",
        "warning",
    )
    assert start_ev.arguments == {"1": "5c1f0a2b-7e3d4f61"} and "All Paths Down" in start_ev.message
    assert began <= events[0].time <= events[1].time <= datetime.now(UTC)
    assert ds_watch.closed and vm_watch.closed


def test_event_window_and_guest_crash(lab: Lab, session: VsphereSession) -> None:
    t0 = datetime.now(UTC) - timedelta(seconds=1)
    lab.handle.push(
        events=[HostEvent("esx.problem.vmfs.nfs.server.disconnect", "Lost connection to server", host="esx01")]
    )
    first = session.events(t0, event_type_ids=["esx.problem.vmfs.nfs.server.disconnect"])
    assert len(first) == 1
    lab.handle.push(
        vms=[VmState("win01", power_state="poweredOn", tools_running_status="guestToolsNotRunning")],
        events=[HostEvent(type="VmGuestOSCrashedEvent", vm="win01", host="esx01")],
    )
    after = session.events(first[0].time + timedelta(microseconds=1))
    assert [e.type for e in after] == ["VmGuestOSCrashedEvent"]  # the earlier event is outside the window
    assert after[0].vm == "win01" and after[0].host == "esx01"
    tools = session.retrieve("VirtualMachine", ["guest.toolsRunningStatus"], names=["win01"])
    assert tools == {"win01": {"guest.toolsRunningStatus": "guestToolsNotRunning"}}
    assert session.events(t0, datetime.now(UTC) - timedelta(hours=1)) == []


def collector_exists(session: VsphereSession, moref: str) -> bool:
    """Whether an EventHistoryCollector is still alive on the server (reading its filter faults if not)."""
    from pyVmomi import vim, vmodl

    collector = vim.event.EventHistoryCollector(moref, session._si._stub)
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=collector, skip=False)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.event.EventHistoryCollector, pathSet=["filter"])],
    )
    try:
        result = session.content.propertyCollector.RetrievePropertiesEx(
            [spec], vmodl.query.PropertyCollector.RetrieveOptions()
        )
    except vmodl.fault.ManagedObjectNotFound:
        return False
    return bool(result and result.objects)


def test_event_collector_is_destroyed_even_when_reading_fails(
    lab: Lab, session: VsphereSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab.handle.push(events=[HostEvent(APD_START, "apd", host="esx01", datastore="ds-nfs01")])
    seen_alive: list[bool] = []
    real = vsphere._event_of

    def spy(e: Any, names: Any) -> vsphere.VsphereEvent:
        assert session.last_event_collector is not None
        seen_alive.append(collector_exists(session, session.last_event_collector))
        return real(e, names)

    monkeypatch.setattr(vsphere, "_event_of", spy)
    assert session.events(datetime.now(UTC) - timedelta(minutes=5))
    assert seen_alive and all(seen_alive)  # the check does see a live collector...
    assert session.last_event_collector is not None
    assert not collector_exists(session, session.last_event_collector)  # ...and it is gone afterwards

    def boom(e: Any, names: Any) -> vsphere.VsphereEvent:
        raise RuntimeError("converter failed")

    monkeypatch.setattr(vsphere, "_event_of", boom)
    with pytest.raises(RuntimeError):
        session.events(datetime.now(UTC) - timedelta(minutes=5))
    assert not collector_exists(session, session.last_event_collector)


def test_host_connection_state(lab: Lab, session: VsphereSession) -> None:
    with session.watch("HostSystem", ["runtime.connectionState"], names=["esx02"]) as w:
        lab.handle.push(hosts=[HostState("esx02", connection_state="notResponding")])
        w.wait_for(_is("runtime.connectionState", "notResponding"), timeout=10)
        lab.handle.push(hosts=[HostState("esx02", connection_state="connected")])
        w.wait_for(_is("runtime.connectionState", "connected"), timeout=10)


def test_bad_push_changes_nothing(lab: Lab, session: VsphereSession) -> None:
    before = lab.handle.control.state()
    with pytest.raises(SimLabError, match="unknown datastore"):
        lab.handle.push(
            vms=[VmState("win01", guest_heartbeat_status="red")], datastores=[DatastoreState("nope", accessible=False)]
        )
    with pytest.raises(SimLabError, match="inaccessible_reason"):
        lab.handle.control._request(
            "POST", "/v1/push", {"datastores": [{"name": "ds-nfs01", "inaccessible_reason": "Sleepy"}]}
        )
    assert lab.handle.control.state() == before
    hb = session.retrieve("VirtualMachine", ["guestHeartbeatStatus"], names=["win01"])
    assert hb["win01"]["guestHeartbeatStatus"] == "green"


# -- TLS and the fault boundary ----------------------------------------------------------------------------


def test_tls_unverified_certificate_is_refused_by_default(lab: Lab, env: None) -> None:
    with pytest.raises(HostKeyError, match=r"administrator@vsphere.local@127.0.0.1:\d+: connect: TLS certificate"):
        VsphereSession(endpoint(lab, Tls())).connect()


@pytest.mark.parametrize("algo", ["sha256", "sha1"])
def test_tls_pinned_thumbprint_is_accepted(lab: Lab, env: None, algo: str) -> None:
    pin = lab.handle.thumbprint_sha256 if algo == "sha256" else lab.handle.thumbprint_sha1
    with VsphereSession(endpoint(lab, Tls(thumbprint=pin))) as s:
        assert s.names("HostSystem") == ["esx01", "esx02"]


def test_tls_wrong_pin_is_refused(lab: Lab, env: None) -> None:
    wrong = ":".join(["AB"] * 32)
    with pytest.raises(HostKeyError, match="is not the pinned"):
        VsphereSession(endpoint(lab, Tls(thumbprint=wrong))).connect()


def test_tls_verify_false_only_when_asked(lab: Lab, env: None) -> None:
    with VsphereSession(endpoint(lab, Tls(verify=False))) as s:
        assert s.names("VirtualMachine") == ["win01", "win02"]


def test_wrong_password_is_an_authentication_error(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAULTLAB_TEST_VC_WRONG", "not-the-password")
    with pytest.raises(AuthenticationError, match=r"administrator@vsphere.local@127.0.0.1:\d+: connect: login refused"):
        VsphereSession(endpoint(lab, Tls(ca_file=lab.handle.cert_file), "FAULTLAB_TEST_VC_WRONG")).connect()


def test_nothing_listening_is_unreachable(lab: Lab, env: None) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        ep = ApiEndpoint(address="127.0.0.1", port=port, user="u", password=SecretRef(ENV), tls=Tls(verify=False))
        with pytest.raises(UnreachableError, match=f"u@127.0.0.1:{port}: connect"):
            VsphereSession(ep, timeout=5).connect()


def test_unknown_names_and_closed_watch(lab: Lab, session: VsphereSession) -> None:
    with pytest.raises(LabError, match="no VirtualMachine named ghost"):
        session.retrieve("VirtualMachine", ["runtime.powerState"], names=["ghost"])
    watch = session.watch("VirtualMachine", ["runtime.powerState"], names=["win02"])
    watch.close()
    with pytest.raises(LabError, match="closed"):
        watch.wait(1)


# -- in its own network namespace, as `lab up` starts it -----------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """A namespace reached over a veth pair: (netns name, vCenter address in 198.19.250.0/24)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces): run `sudo .venv/bin/pytest -m lab tests/lab/test_vcsim.py`")
    tag = secrets.token_hex(2)
    ns, outside, inside = f"fvct{tag}", f"fvct{tag}-h", f"fvct{tag}-n"
    base = 4 * (int(tag, 16) % 64)  # a /30 of 198.19.250.0/24 per run
    host_ip, vc_ip = f"198.19.250.{base + 1}", f"198.19.250.{base + 2}"
    _ip("netns", "add", ns)
    try:
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", ns)
        _ip("addr", "add", f"{host_ip}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", ns, "addr", "add", f"{vc_ip}/30", "dev", inside)
        _ip("-n", ns, "link", "set", inside, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        yield ns, vc_ip
    finally:
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=30, check=False)
        _ip("netns", "del", ns)


def test_runs_in_its_own_namespace_on_443(
    netns: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ns, address = netns
    spec = VcenterSpec(
        address=address,
        password=new_password(),
        hosts=(VcHost("esx01"),),
        datastores=(VcDatastore("ds-iscsi01", "vmfs", ("esx01",), naa_id="naa.1"),),
        vms=(VcVm("win01", "esx01", "ds-iscsi01"),),
    )
    handle = start(tmp_path / "vcenter", spec, netns=ns)
    try:
        assert handle.port == 443 and handle.url == f"https://{address}:443/sdk"
        entry = handle.inventory_entry("FAULTLAB_TEST_VC_NS")
        monkeypatch.setenv("FAULTLAB_TEST_VC_NS", spec.password)
        inv = Inventory.model_validate({"version": 1, "kind": "embedded", "vcenter": entry})
        assert inv.vcenter is not None
        # TLS is verified against the lab's own certificate (the inventory's ca_file).
        with (
            VsphereSession(inv.vcenter, timeout=20) as s,
            s.watch("VirtualMachine", ["runtime.powerState"], names=["win01"]) as w,
        ):
            handle.push(vms=[VmState("win01", power_state="poweredOff")])
            w.wait_for(_is("runtime.powerState", "poweredOff"), timeout=10)
        pid_ns = os.readlink(f"/proc/{handle.pid}/ns/net")
        assert pid_ns != os.readlink("/proc/self/ns/net")  # the launcher really is in the lab's namespace
    finally:
        handle.stop()
    assert not handle.alive()


# -- host snapshots forwarded by the bridge ------------------------------------------------------------------


def test_bridge_forwards_host_snapshots(lab: Lab, session: VsphereSession) -> None:
    began = datetime.now(UTC) - timedelta(seconds=1)
    vm = {"name": "win02", "powerState": "poweredOn", "guestHeartbeatStatus": "green",
          "toolsRunningStatus": "guestToolsRunning"}  # fmt: skip
    ds = {"name": "ds-iscsi01", "accessible": True, "inaccessibleReason": None}
    snap: dict[str, Any] = {"datastores": [ds], "vms": [vm], "events": []}

    def snapshot(host: str) -> dict[str, Any]:
        if host == "esx01":
            raise OSError("host agent restarting")  # an unreadable host is skipped, the others still forwarded
        return snap

    hb = bridge.HostBridge(lab.handle.control, ["esx01", "esx02"], snapshot, interval=0.05)
    # the crash event is shown in the vCenter's own datacenter (the launcher's ready.json), not ha-datacenter
    assert hb.known.datacenter and hb.known.datacenter != "ha-datacenter"
    with session.watch("VirtualMachine", ["guestHeartbeatStatus"], names=["win02"]) as w:
        hb.start()
        try:
            assert hb.pushes == 1  # the initial state
            vm["guestHeartbeatStatus"] = "red"
            ds.update(accessible=False, inaccessibleReason="PermanentDeviceLoss")
            snap["events"] = [
                {"key": 3, "eventTypeId": "esx.problem.scsi.device.state.permanentloss", "subject": "ds-iscsi01",
                 "message": "Device naa.6001405f00d has been removed or is permanently inaccessible."},
                {"key": 4, "eventTypeId": "VmGuestOSCrashedEvent", "subject": "win02",
                 "message": "win02 on esx02 in ha-datacenter: Guest operating system has crashed."},
            ]  # fmt: skip
            w.wait_for(_is("guestHeartbeatStatus", "red"), timeout=10)
            vm["guestHeartbeatStatus"] = "green"
            w.wait_for(_is("guestHeartbeatStatus", "green"), timeout=10)
        finally:
            hb.stop()
    mounts = session.retrieve("Datastore", ["host"], names=["ds-iscsi01"])["ds-iscsi01"]["host"]
    assert {m["key"]: m["mountInfo"].get("inaccessibleReason") for m in mounts} == {
        "esx01": None,
        "esx02": "PermanentDeviceLoss",
    }
    seen = session.events(
        began, event_type_ids=["esx.problem.scsi.device.state.permanentloss", "VmGuestOSCrashedEvent"]
    )
    assert [(e.type, e.host, e.datastore, e.vm, e.severity) for e in seen] == [
        ("EventEx", "esx02", "ds-iscsi01", None, "error"),
        ("VmGuestOSCrashedEvent", "esx02", None, "win02", None),
    ]
    lab.handle.push(datastores=[DatastoreState("ds-iscsi01", accessible=True, inaccessible_reason="")])


def test_bridge_process_reads_host_control_sockets(lab: Lab, session: VsphereSession, tmp_path: Path) -> None:
    vm = {"name": "win01", "powerState": "poweredOn", "guestHeartbeatStatus": "green",
          "toolsRunningStatus": "guestToolsRunning"}  # fmt: skip
    snap: dict[str, Any] = {"host": "esx01", "datastores": [], "vms": [vm], "events": []}
    stop = threading.Event()
    sock = tmp_path / "esxi-control.sock"
    server = ControlServer(sock, lambda req: snap if req["cmd"] == "snapshot" else None, stop)  # the host's own server
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        proc = start_bridge(tmp_path, lab.handle, {"esx01": sock}, interval=0.05)
        try:
            with session.watch("VirtualMachine", ["guestHeartbeatStatus"], names=["win01"]) as w:
                vm["guestHeartbeatStatus"] = "red"
                w.wait_for(_is("guestHeartbeatStatus", "red"), timeout=10)
                vm["guestHeartbeatStatus"] = "green"
                w.wait_for(_is("guestHeartbeatStatus", "green"), timeout=10)
        finally:
            proc.stop()
        assert not proc.alive()
    finally:
        stop.set()
        thread.join(timeout=5)


def test_vcenter_gone_mid_session_is_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = VcenterSpec(
        address="127.0.0.1",
        port=0,
        password=new_password(),
        hosts=(VcHost("esx01"),),
        datastores=(VcDatastore("ds-iscsi01", "vmfs", ("esx01",)),),
    )
    handle = start(tmp_path / "vcenter", spec)
    monkeypatch.setenv("FAULTLAB_TEST_VC_GONE", spec.password)
    ep = ApiEndpoint(
        address="127.0.0.1",
        port=handle.port,
        user=spec.user,
        password=SecretRef("FAULTLAB_TEST_VC_GONE"),
        tls=Tls(ca_file=handle.cert_file),
    )
    session = VsphereSession(ep, timeout=10)
    try:
        session.connect()
        watch = session.watch("Datastore", ["summary.accessible"])
        handle.stop()
        with pytest.raises(UnreachableError, match=rf"@127.0.0.1:{handle.port}: wait for Datastore updates"):
            watch.wait(2)
        with pytest.raises(UnreachableError, match="read events"):
            session.events(datetime.now(UTC) - timedelta(minutes=1))
        watch.close()  # never raises, even with the server gone
    finally:
        session.close()
        handle.stop()
    assert not handle.alive()
