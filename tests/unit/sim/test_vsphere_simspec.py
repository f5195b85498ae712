"""The simulated vCenter's Python side without the launcher: spec validation, JSON, control client, build cache."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from faultlab.lab.inventory import ApiEndpoint
from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.vcenter import (
    HOST_EVENT_IDS,
    ControlClient,
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
    build,
    events,
    spec_from_inventory,
)

NFS = VcDatastore("ds-nfs01", "nfs", ("esx01",), path="/x/export", remote_host="198.18.1.21", remote_path="/ds-nfs01")


def _spec(**kw: Any) -> VcenterSpec:
    base: dict[str, Any] = {
        "address": "198.18.1.5",
        "password": "pw",
        "hosts": (VcHost("esx01"), VcHost("esx02")),
        "datastores": (NFS,),
        "vms": (VcVm("win01", "esx01", "ds-nfs01"),),
    }
    return VcenterSpec(**{**base, **kw})


def test_valid_spec_and_its_launcher_json(tmp_path: Path) -> None:
    spec = _spec()
    spec.validate()
    doc = spec.launcher_json(tmp_path, tmp_path / "c.sock")
    assert doc["listen"] == "198.18.1.5:443" and doc["password"] == "pw"
    assert doc["datastores"][0] == {
        "name": "ds-nfs01",
        "type": "nfs",
        "hosts": ["esx01"],
        "path": "/x/export",
        "remote_host": "198.18.1.21",
        "remote_path": "/ds-nfs01",
        "volume_uuid": "",
        "naa_id": "",
    }
    assert doc["vms"] == [
        {
            "name": "win01",
            "host": "esx01",
            "datastore": "ds-nfs01",
            "vmx_path": "",
            "guest_os": "windows",
            "power_on": True,
        }
    ]
    assert _spec(address="fd00::5").launcher_json(tmp_path, tmp_path / "c")["listen"] == "[fd00::5]:443"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"password": ""}, "password is empty"),
        ({"hosts": (VcHost("esx01"), VcHost("esx01"))}, "duplicate host name esx01"),
        ({"vms": (VcVm("win01", "esx02", "ds-nfs01"),)}, "datastore ds-nfs01 is not mounted on host esx02"),
        ({"vms": (VcVm("win01", "esx09", "ds-nfs01"),)}, "unknown host esx09"),
        ({"vms": (VcVm("win01", "esx01", "ds-zz"),)}, "unknown datastore ds-zz"),
        ({"datastores": (VcDatastore("ds-nfs01", "nfs", ("esx01",)),)}, "needs remote_host and remote_path"),
        ({"datastores": (VcDatastore("d", "vmfs", ()),), "vms": ()}, "mounted on no host"),
    ],
)
def test_spec_problems_are_named(change: dict[str, Any], problem: str) -> None:
    with pytest.raises(EmbeddedLabError, match=problem):
        _spec(**change).validate()


def test_spec_from_the_inventory_lab_up_writes() -> None:
    inventory = {
        "hosts": [{"name": "esx01", "address": "198.18.1.11"}, {"name": "esx02", "address": "198.18.1.12"}],
        "storage_targets": [
            {"name": "nfs01", "kind": "nfs", "export_dir": "/run/faultlab/fl3a9c/nfs01/export/ds-nfs01"},
            {"name": "iscsi01", "kind": "iscsi"},
        ],
        "datastores": [
            {"name": "ds-nfs01", "type": "nfs", "target": "nfs01", "remote_host": "198.18.1.21",
             "remote_path": "/ds-nfs01", "volume_uuid": "5c1f0a2b-7e3d4f61", "hosts": ["esx01"]},
            {"name": "ds-iscsi01", "type": "vmfs", "target": "iscsi01", "naa_id": "naa.6001", "volume_uuid": "u2"},
        ],
        "vms": [{"name": "win01", "host": "esx01", "datastore": "ds-nfs01", "vmx_path": "[ds-nfs01] win01/win01.vmx"}],
    }  # fmt: skip
    spec = spec_from_inventory(inventory, address="198.18.1.5", password="pw")
    spec.validate()
    nfs, vmfs = spec.datastores
    assert nfs.path == "/run/faultlab/fl3a9c/nfs01/export/ds-nfs01" and nfs.hosts == ("esx01",)
    assert vmfs.path is None and vmfs.hosts == ("esx01", "esx02") and vmfs.naa_id == "naa.6001"
    assert spec.vms == (VcVm("win01", "esx01", "ds-nfs01", "[ds-nfs01] win01/win01.vmx", "windows"),)


def test_inventory_entry_is_a_valid_api_endpoint(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    handle = VcenterHandle(
        pid=1, address="198.18.1.5", port=443, user="administrator@vsphere.local", password_file=tmp_path / "pw",
        cert_file=cert, thumbprint_sha1="", thumbprint_sha256="", control_socket=tmp_path / "c.sock",
        state_dir=tmp_path, log_file=tmp_path / "log",
    )  # fmt: skip
    endpoint = ApiEndpoint.model_validate(handle.inventory_entry())
    assert endpoint.tls.verify and endpoint.tls.ca_file == cert and endpoint.tls.thumbprint is None
    assert str(endpoint.password) == "${FAULTLAB_VC_PASSWORD}" and handle.url == "https://198.18.1.5:443/sdk"


# -- the control client against a fake launcher --------------------------------------------------------------


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Handler(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, Any]]] = []
    status: ClassVar[int] = 200

    def _answer(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(("POST", self.path, json.loads(self.rfile.read(length))))
        self._answer({"ok": True} if self.status == 200 else {"error": 'unknown vm "ghost"'})

    def do_GET(self) -> None:
        self.received.append(("GET", self.path, None))
        self._answer({"datastores": {}, "vms": {}, "hosts": {}})

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def address_string(self) -> str:  # unix sockets have no client address
        return "unix"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "control.sock"
    _Handler.received = []
    _Handler.status = 200
    server = _Server(str(path), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_push_sends_only_what_is_set(fake: Path) -> None:
    ControlClient(fake).push(
        datastores=[DatastoreState("ds-nfs01", accessible=False, inaccessible_reason="AllPathsDown_Start")],
        vms=[VmState("win01", guest_heartbeat_status="red")],
        events=[HostEvent("esx.problem.storage.apd.start", "APD", host="esx01", datastore="ds-nfs01")],
    )
    method, path, body = _Handler.received[0]
    assert (method, path) == ("POST", "/v1/push")
    assert body == {
        "datastores": [{"name": "ds-nfs01", "accessible": False, "inaccessible_reason": "AllPathsDown_Start"}],
        "vms": [{"name": "win01", "guest_heartbeat_status": "red"}],
        "hosts": [],
        "events": [
            {"event_type_id": "esx.problem.storage.apd.start", "message": "APD", "host": "esx01",
             "datastore": "ds-nfs01", "severity": "warning", "type": "EventEx", "arguments": {}}
        ],
    }  # fmt: skip
    assert ControlClient(fake).state() == {"datastores": {}, "vms": {}, "hosts": {}}


def test_refused_push_and_missing_socket_are_lab_errors(fake: Path, tmp_path: Path) -> None:
    _Handler.status = 400
    with pytest.raises(EmbeddedLabError, match='refused POST /v1/push: unknown vm "ghost"'):
        ControlClient(fake).push(vms=[VmState("ghost", power_state="poweredOff")])
    with pytest.raises(EmbeddedLabError, match=r"control socket .*nothing\.sock"):
        ControlClient(tmp_path / "nothing.sock", timeout=1).state()


# -- the build cache ----------------------------------------------------------------------------------------


def test_build_is_offline_gopath_mode(tmp_path: Path) -> None:
    env = build.build_env(tmp_path / "gopath", tmp_path / "cache")
    assert env["GO111MODULE"] == "off" and env["GOPROXY"] == "off" and env["CGO_ENABLED"] == "0"
    assert env["GOPATH"] == f"{tmp_path / 'gopath'}:/usr/share/gocode"
    assert env["GOCACHE"] == str(tmp_path / "cache" / "go-build")


def test_cache_key_follows_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "main.go"
    src.write_text("package main\n")
    monkeypatch.setattr(build, "SOURCE", src)
    monkeypatch.setattr(build, "_go_version", lambda go: "go1.19.8")
    monkeypatch.setattr(build, "_govmomi_version", lambda: "0.24.2-3")
    first = build.source_key("go")
    assert build.source_key("go") == first
    src.write_text("package main\n// changed\n")
    assert build.source_key("go") != first


def test_cached_binary_is_reused_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "_go", lambda: "/nonexistent/go")
    monkeypatch.setattr(build, "source_key", lambda go: "k1")
    target = tmp_path / "vcsim" / "k1" / build.BINARY_NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\x7fELF")
    result = build.ensure_binary(tmp_path)
    assert result == build.BuildResult(target, built=False, seconds=0.0)


def test_host_event_builders_use_esxi_ids_and_texts() -> None:
    start = events.apd_start("esx01", "naa.6001", datastore="ds-iscsi01")
    assert (start.event_type_id, start.severity, start.host, start.datastore) == (
        "esx.problem.storage.apd.start",
        "warning",
        "esx01",
        "ds-iscsi01",
    )
    assert start.message == "Device or filesystem with identifier [naa.6001] has entered the All Paths Down state."
    timeout = events.apd_timeout("esx01", "naa.6001", 140)
    assert "for 140 seconds. I/Os will now be fast failed." in timeout.message
    assert events.apd_exit("esx01", "naa.6001").event_type_id == "esx.clear.storage.apd.exit"
    lost = events.nfs_server_disconnect("esx01", "198.18.1.21", "/ds-nfs01", "5c1f0a2b-7e3d4f61", "ds-nfs01")
    assert lost.message == (
        "Lost connection to server 198.18.1.21 mount point /ds-nfs01 mounted as 5c1f0a2b-7e3d4f61 (ds-nfs01)."
    )
    back = events.nfs_server_restored("esx01", "198.18.1.21", "/ds-nfs01", "5c1f0a2b-7e3d4f61", "ds-nfs01")
    assert back.event_type_id == "esx.clear.vmfs.nfs.server.restored" and back.severity == "info"
    pdl = events.permanent_device_loss("esx01", "naa.6001", ["ds-iscsi01"])
    assert (pdl.event_type_id, pdl.severity, pdl.datastore) == (
        "esx.problem.scsi.device.state.permanentloss",
        "error",
        "ds-iscsi01",
    )
    crash = events.guest_os_crashed("esx01", "win01")
    assert (crash.type, crash.vm, crash.event_type_id) == ("VmGuestOSCrashedEvent", "win01", "")
    ids = {e.event_type_id for e in (start, timeout, events.apd_exit("h", "i"), lost, back, pdl)}
    assert ids == set(HOST_EVENT_IDS)


# -- the bridge from host snapshots ---------------------------------------------------------------------------

KNOWN = bridge.Known(frozenset({"ds-nfs01"}), frozenset({"win01"}))


def _snap(accessible: bool, reason: str | None, heartbeat: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "host": "esx01",
        "datastores": [
            {"name": "ds-nfs01", "accessible": accessible, "inaccessibleReason": reason, "apdState": "normal"},
            {"name": "ds-other", "accessible": False, "inaccessibleReason": "AllPathsDown_Start"},
        ],
        "vms": [
            {"name": "win01", "powerState": "poweredOn", "guestHeartbeatStatus": heartbeat,
             "toolsRunningStatus": "guestToolsRunning"},
            {"name": "ghost", "powerState": "poweredOff"},
        ],
        "events": events,
    }  # fmt: skip


def test_bridge_diff_pushes_changes_only() -> None:
    first = bridge.diff("esx01", _snap(True, None, "green", []), bridge.Forwarded(), KNOWN)
    dss, vms, evs, seen = first
    assert dss == [DatastoreState("ds-nfs01", accessible=True, host="esx01", inaccessible_reason="")]
    assert vms == [VmState("win01", "poweredOn", None, "green", "guestToolsRunning")]
    assert evs == []
    assert bridge.diff("esx01", _snap(True, None, "green", []), seen, KNOWN)[:3] == ([], [], [])  # no repeats
    apd = {"key": 7, "eventTypeId": "esx.problem.storage.apd.start", "message": "APD", "subject": "ds-nfs01"}
    crash = {"key": 8, "eventTypeId": "VmGuestOSCrashedEvent", "message": "crashed", "subject": "win01"}
    on = {"key": 6, "eventTypeId": "VmPoweredOnEvent", "message": "on", "subject": "win01"}
    down = _snap(False, "AllPathsDown_Start", "red", [crash, apd, on])
    dss, vms, evs, seen2 = bridge.diff("esx01", down, seen, KNOWN)
    assert dss == [DatastoreState("ds-nfs01", accessible=False, host="esx01", inaccessible_reason="AllPathsDown_Start")]
    assert vms == [VmState("win01", guest_heartbeat_status="red")]  # only what changed
    assert evs == [
        HostEvent("esx.problem.storage.apd.start", "APD", host="esx01", datastore="ds-nfs01", severity="warning"),
        HostEvent(type="VmGuestOSCrashedEvent", message="crashed", host="esx01", vm="win01"),
    ]  # key order; VmPoweredOnEvent is not posted
    assert seen2.last_event_key == 8
    again = bridge.diff("esx01", down, seen2, KNOWN)
    assert again[:3] == ([], [], [])  # events are forwarded once
    clear = {"key": 9, "eventTypeId": "esx.clear.storage.apd.exit", "message": "exit", "subject": "ds-nfs01"}
    pdl = {"key": 10, "eventTypeId": "esx.problem.scsi.device.state.permanentloss", "message": "pdl", "subject": "x"}
    evs = bridge.diff("esx01", _snap(True, None, "green", [clear, pdl]), seen2, KNOWN)[2]
    assert [(e.event_type_id, e.severity, e.datastore) for e in evs] == [
        ("esx.clear.storage.apd.exit", "info", "ds-nfs01"),
        ("esx.problem.scsi.device.state.permanentloss", "error", None),
    ]


def _esx4(up: bool, power: str) -> dict[str, Any]:
    """An ESX 4 host's snapshot (sim/esx4/host.py): `up` false during the purple screen and the reboot."""
    return {"host": "esx01", "up": up, "datastores": [], "events": [], "vms": [{"name": "win01", "powerState": power}]}


def test_bridge_host_not_responding_during_the_purple_screen_then_connected() -> None:
    known = bridge.Known(frozenset(), frozenset({"win01"}), "dc0")

    def step(snap: dict[str, Any], before: bridge.Forwarded) -> tuple[list[Any], bridge.Forwarded]:
        hosts, vms, evs, seen = bridge.connection("esx01", snap, before, known)
        _, more, evs2, after = bridge.diff("esx01", snap, seen, known)
        return [*hosts, *vms, *more, *evs, *evs2], after

    pushed, seen = step(_esx4(True, "poweredOn"), bridge.Forwarded())
    assert pushed == [VmState("win01", power_state="poweredOn")]  # connected from the start: no host event
    pushed, seen = step(_esx4(False, "poweredOff"), seen)
    assert pushed == [
        HostState("esx01", "notResponding"),
        VmState("win01", connection_state="disconnected"),  # vCenter cannot know the power state any more
        HostEvent(type="HostConnectionLostEvent", message="Host esx01 in dc0 is not responding", host="esx01",
                  severity="error"),
    ]  # fmt: skip
    assert step(_esx4(False, "poweredOff"), seen)[0] == []  # said once
    pushed, seen = step(_esx4(True, "poweredOn"), seen)
    assert pushed == [
        HostState("esx01", "connected"),
        VmState("win01", connection_state="connected"),
        VmState("win01", power_state="poweredOn"),  # pushed again whole after the host returns
        HostEvent(type="HostConnectedEvent", message="Connected to esx01 in dc0", host="esx01", severity="info"),
    ]
    assert step(_esx4(True, "poweredOn"), seen)[0] == []
    # An ESXi snapshot has no `up`: no connection pushes at all.
    assert bridge.connection("esx01", _snap(True, None, "green", []), bridge.Forwarded(), KNOWN)[:3] == ([], [], [])
