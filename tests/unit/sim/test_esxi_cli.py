"""Unit tests: advanced settings semantics, the esxcli / vim-cmd output of the simulated host, and
`esxcli storage core path set --state off|active` (parsing, path state machine, no I/O while off)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from faultlab.harness.faults import wait_for
from faultlab.sim.config import IscsiDatastoreConfig
from faultlab.sim.esxi.commands import esxcli, formats, vimcmd
from faultlab.sim.esxi.commands.control import ControlServer
from faultlab.sim.esxi.commands.esxcli_out import render
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.settings import SettingError, Settings, format_option
from faultlab.sim.esxi.storage.iscsiclient import ScsiResult
from faultlab.sim.esxi.storage.machines import ApdState, IscsiPath, PathState
from faultlab.sim.esxi.storage.storage_iscsi import IscsiVolume

SNAPSHOT: dict[str, Any] = {
    "host": "esx01",
    "datastores": [
        {"name": "ds-nfs01", "type": "NFS", "server": "198.18.1.20", "export": "/ds-nfs01", "accessible": False},
        {
            "name": "ds-iscsi01",
            "type": "VMFS",
            "device": "naa.6000000000000000000e00000000010001",
            "path": "vmhba64:C0:T0:L1",
            "iqn": "iqn.2026-11.lab.faultlab:x",
            "deviceStatus": "dead",
            "pathState": "dead",
        },
    ],
    "vms": [
        {
            "vmid": 1,
            "name": "win01",
            "datastore": "ds-nfs01",
            "powerState": "poweredOn",
            "vmx": "/vmfs/volumes/5c1f0a2b-7e3d4f61/win01/win01.vmx",
        }
    ],
}


def test_settings_names_defaults_and_ranges() -> None:
    s = Settings({"Misc.APDTimeout": 10})
    assert s.integer("/Misc/APDTimeout") == 10 and s.integer("NFS.HeartbeatMaxFailures") == 3
    s.set("/NFS/HeartbeatFrequency", "4")
    assert s.get("NFS.HeartbeatFrequency") == 4
    with pytest.raises(SettingError, match="outside the range"):
        s.set("Misc.APDHandlingEnable", 2)
    with pytest.raises(SettingError, match="Unable to find option"):
        s.get("/Misc/NoSuchOption")


def test_format_option_block() -> None:
    s = Settings()
    text = format_option(s.spec("Misc.APDTimeout"), 6)
    assert text.splitlines()[:3] == ["   Path: /Misc/APDTimeout", "   Type: integer", "   Int Value: 6"]
    # ESXi's own description (lamw/esxi-advanced-and-kernel-settings, real 7.0U3/8.0U3 hosts)
    assert "   Description: Number of seconds a device can be in APD before failing User World I/O." in text


def test_nfs_list_table() -> None:
    lines = render(formats.nfs_list({**SNAPSHOT, "version": "8.0"}), None).splitlines()
    assert lines[0].split("  ")[0] == "Volume Name" and set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split()[:6] == ["ds-nfs01", "198.18.1.20", "/ds-nfs01", "vmk0", "false", "true"]


def test_device_and_path_lists() -> None:
    dev = render(formats.device_list(SNAPSHOT), None)
    assert "\nnaa.6000000000000000000e00000000010001\n" in dev and "   Status: dead\n" in dev
    paths = render(formats.path_list(SNAPSHOT, "iqn.1998-01.com.vmware:esx01-1"), None)
    assert "   Runtime Name: vmhba64:C0:T0:L1\n" in paths and "   State: dead\n" in paths
    assert "   LUN: 1\n" in paths


def test_vimcmd_formats() -> None:
    table = formats.getallvms(SNAPSHOT).splitlines()
    assert table[0].split()[:2] == ["Vmid", "Name"]
    assert "[ds-nfs01] win01/win01.vmx" in table[1]
    assert formats.power_getstate(SNAPSHOT["vms"][0]) == "Retrieved runtime info\nPowered on\n"


@pytest.fixture
def control(tmp_path: Path) -> Any:
    settings = Settings()

    def handler(req: dict[str, Any]) -> Any:
        if req["cmd"] == "snapshot":
            return SNAPSHOT
        if req["cmd"] == "settings.fields":
            return [[[k, v, "string"] for k, v in settings.fields(req["option"])]]
        if req["cmd"] == "settings.set":
            settings.set(req["option"], req["value"])
            return None
        raise KeyError(req["cmd"])

    stop = threading.Event()
    server = ControlServer(tmp_path / "ctl.sock", handler, stop)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield str(tmp_path / "ctl.sock"), settings
    stop.set()
    thread.join(2)


def test_esxcli_over_control_socket(control: Any) -> None:
    path, settings = control
    assert esxcli.run(["system", "settings", "advanced", "set", "-o", "/Misc/APDTimeout", "-i", "9"], path) == (0, "")
    assert settings.get("Misc.APDTimeout") == 9
    code, out = esxcli.run(["system", "settings", "advanced", "list", "-o", "/Misc/APDTimeout"], path)
    assert code == 0 and "   Int Value: 9" in out
    code, out = esxcli.run(["system", "settings", "advanced", "set", "-o", "/Misc/APDTimeout", "-i", "0"], path)
    assert code == 1 and "outside the range" in out
    assert esxcli.run(["storage", "nfs", "list"], path)[1].splitlines()[2].startswith("ds-nfs01")
    assert esxcli.run(["storage", "bogus"], path)[0] == 1
    assert vimcmd.run(["vmsvc/power.getstate", "1"], path) == (0, "Retrieved runtime info\nPowered on\n")
    assert vimcmd.run(["vmsvc/power.getstate", "7"], path)[0] == 1


def test_cli_without_host_fails_cleanly(tmp_path: Path) -> None:
    code, out = esxcli.run(["storage", "nfs", "list"], str(tmp_path / "none.sock"))
    assert code == 1 and "cannot reach the host agent" in out


# -- esxcli storage core path set ------------------------------------------------------------------------------

INITIATOR = "iqn.1998-01.com.vmware:esx01-4f6c3a21"
UID = f"{INITIATOR}-00023d000001,iqn.2026-11.lab.faultlab:x,t,1-naa.6000000000000000000e00000000010001"


@pytest.fixture
def path_host(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A control socket whose snapshot is SNAPSHOT with the path state that `path.set` last set."""
    calls: list[tuple[str, str]] = []
    state = {"pathState": "on"}

    def handler(req: dict[str, Any]) -> Any:
        if req["cmd"] == "snapshot":
            ds = dict(SNAPSHOT["datastores"][1], deviceStatus="on" if state["pathState"] == "on" else "dead", **state)
            return {**SNAPSHOT, "datastores": [SNAPSHOT["datastores"][0], ds]}
        if req["cmd"] == "path.set":
            calls.append((req["runtime"], req["state"]))
            state["pathState"] = "off" if req["state"] == "off" else "on"
            return None
        raise KeyError(req["cmd"])

    stop = threading.Event()
    server = ControlServer(tmp_path / "ctl.sock", handler, stop)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield str(tmp_path / "ctl.sock"), calls
    stop.set()
    thread.join(2)


def _state_in_list(sock: str) -> str:
    code, out = esxcli.run(["storage", "core", "path", "list"], sock)
    assert code == 0
    block = next(b for b in out.split("\n\n") if "   Transport: iscsi\n" in b)
    return next(line.split(": ", 1)[1] for line in block.splitlines() if line.startswith("   State: "))


def test_path_set_by_runtime_name_and_uid_is_silent_and_shows_in_path_list(
    path_host: tuple[str, list[tuple[str, str]]],
) -> None:
    sock, calls = path_host
    assert _state_in_list(sock) == "active"
    assert esxcli.run(["storage", "core", "path", "set", "--state", "off", "-p", "vmhba64:C0:T0:L1"], sock) == (0, "")
    assert _state_in_list(sock) == "off"
    assert esxcli.run(["storage", "core", "path", "set", f"--path={UID}", "--state=active"], sock) == (0, "")
    assert _state_in_list(sock) == "active"
    assert calls == [("vmhba64:C0:T0:L1", "off"), ("vmhba64:C0:T0:L1", "active")]  # a UID goes by its runtime name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--state", "off", "-p", "vmhba99:C0:T0:L9"], "Error: Unable to find path vmhba99:C0:T0:L9\n"),
        (["--state", "standby", "-p", "vmhba64:C0:T0:L1"], "Error: Invalid data constraint for parameter 'state'"),
        (["--state", "off"], "Error: Missing required parameter -p|--path\n"),
        (["-p", "vmhba64:C0:T0:L1"], "Error: Missing required parameter --state\n"),
    ],
)
def test_path_set_errors_are_one_line_and_change_nothing(
    path_host: tuple[str, list[tuple[str, str]]], args: list[str], message: str
) -> None:
    sock, calls = path_host
    code, out = esxcli.run(["storage", "core", "path", "set", *args], sock)
    assert code == 1 and out.startswith(message) and out.count("\n") == 1
    assert calls == [] and _state_in_list(sock) == "active"


def test_uid_in_path_list_is_the_one_path_set_accepts() -> None:
    ds = SNAPSHOT["datastores"][1]
    assert f"   UID: {formats.path_uid(ds, INITIATOR)}\n" in render(formats.path_list(SNAPSHOT, INITIATOR), None)
    assert formats.find_path(SNAPSHOT, INITIATOR, UID) is ds
    assert formats.find_path(SNAPSHOT, INITIATOR, "naa.6000000000000000000e00000000010001") is None  # a device


def _state(path: IscsiPath) -> PathState:
    return path.state  # read through a call: mypy would keep the first narrowing of path.state


def test_path_off_enters_apd_at_once_and_active_exits_it_without_path_vobs() -> None:
    path = IscsiPath(recovery_s=2)
    assert path.set_off() == [] and _state(path) is PathState.OFF
    assert path.tick(10.0, 6, True) == ["apd.start"]  # no recovery time: the device has no path left
    assert path.command_ok() == [] and _state(path) is PathState.OFF  # a command in flight does not bring it back
    assert path.command_failed(10.5) == [] and _state(path) is PathState.OFF
    assert path.tick(16.0, 6, True) == ["apd.timeout"]
    assert path.set_active(17.0) == [] and _state(path) is PathState.DEAD  # probed again; dead until it answers
    assert path.tick(20.0, 6, True) == []
    assert path.command_ok() == ["apd.exit"] and _state(path) is PathState.ON  # no pathstate.on vob for an admin change
    assert path.apd.state is ApdState.NORMAL


def test_path_set_active_on_an_unreachable_target_stays_dead_then_recovers_as_a_dead_path() -> None:
    path = IscsiPath(recovery_s=2)
    path.set_off()
    path.tick(1.0, 6, True)
    path.set_active(2.0)
    assert path.command_failed(3.0) == [] and path.state is PathState.DEAD and path.apd.state is ApdState.APD
    assert path.command_ok() == ["iscsi.connection.online", "path.on", "apd.exit"]


class FakeSession:
    """Stands in for the iSCSI session: counts the commands the host sends, logs in on demand."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connected = True
        self.writes = 0
        self.logins = 0

    def connect(self) -> None:
        self.connected, self.logins = True, self.logins + 1

    def capacity_bytes(self) -> int:
        return 1 << 30

    def write16(self, lba: int, data: bytes) -> ScsiResult:
        self.writes += 1
        return ScsiResult(status=0)

    def close(self) -> None:
        self.connected = False


def _until(cond: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    return wait_for(cond, timeout_s, 0.01)


def test_volume_sends_no_io_while_off_and_logs_apd_start_and_exit(tmp_path: Path) -> None:
    cfg: IscsiDatastoreConfig = {
        "name": "ds-iscsi01", "portal": "198.18.9.10:3260", "iqn": "iqn.2026-11.lab.faultlab:x", "lun": 1,
        "naa_id": "naa.6000000000000000000e00000000010001", "vmhba_path": "vmhba64:C0:T0:L1",
        "volume_uuid": "5c1f0a2b-11111111", "mount_point": "/vmfs/volumes/5c1f0a2b-11111111",
    }  # fmt: skip
    stop = threading.Event()
    logs = HostLogs(tmp_path, "8.0", "esx01")
    vol = IscsiVolume(cfg, Settings({"Misc.APDTimeout": 20}), logs, stop, "esx01", 0.05, 0.3, 0.2)
    session = FakeSession()
    vol.session = session  # type: ignore[assignment]
    vobd = tmp_path / "vobd.log"
    vol.start()
    try:
        assert _until(lambda: session.writes >= 2)
        vol.set_path_state("off")
        assert _until(lambda: not session.connected), "the session was not logged out"
        assert _until(lambda: "vob.storage.apd.start" in vobd.read_text())
        writes = session.writes
        assert _until(lambda: "esx.problem.vmfs.heartbeat.timedout" in vobd.read_text())
        assert session.writes == writes and not session.connected  # nothing sent on an off path
        snap = vol.snapshot()
        assert (snap["pathState"], snap["deviceStatus"], snap["accessible"]) == ("off", "dead", False)
        vol.set_path_state("active")
        assert _until(lambda: "vob.storage.apd.exit" in vobd.read_text())
        assert session.logins == 1 and session.writes > writes
        assert _until(lambda: "vob.vmfs.heartbeat.recovered" in vobd.read_text())
        assert vol.snapshot()["pathState"] == "on"
        assert "pathstate" not in vobd.read_text()  # not documented for an administrative change
        with pytest.raises(ValueError, match="off or active"):
            vol.set_path_state("standby")
    finally:
        stop.set()
        vol.join(2)


def test_xml_escaping_is_saxutils_own() -> None:
    """esxcli_out escapes as xml.sax.saxutils does (without importing it: 46 ms per simulated command)."""
    from xml.sax.saxutils import escape as sax_escape
    from xml.sax.saxutils import quoteattr as sax_quoteattr

    from faultlab.sim.esxi.commands.esxcli_out import escape, quoteattr

    for text in ['a&b<c>"d', "it's", "x\"y'z\n\t\r", "", "vmhba64:C0:T0:L1", "&amp;"]:
        assert (escape(text), quoteattr(text)) == (sax_escape(text), sax_quoteattr(text)), text
