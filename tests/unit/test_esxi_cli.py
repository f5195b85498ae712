"""Unit tests: advanced settings semantics and the esxcli / vim-cmd output of the simulated host."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from faultlab.sim.esxi import esxcli, formats, vimcmd
from faultlab.sim.esxi.control import ControlServer
from faultlab.sim.esxi.settings import SettingError, Settings, format_option

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
    assert "   Description: Timeout value (in seconds) for APD Timeout" in text


def test_nfs_list_table() -> None:
    lines = formats.nfs_list(SNAPSHOT).splitlines()
    assert lines[0].split("  ")[0] == "Volume Name" and set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split()[:6] == ["ds-nfs01", "198.18.1.20", "/ds-nfs01", "None", "false", "true"]


def test_device_and_path_lists() -> None:
    dev = formats.device_list(SNAPSHOT)
    assert dev.startswith("naa.6000000000000000000e00000000010001\n") and "   Status: dead\n" in dev
    paths = formats.path_list(SNAPSHOT, "iqn.1998-01.com.vmware:esx01-1")
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
        if req["cmd"] == "settings.list":
            return format_option(settings.spec(req["option"]), settings.get(req["option"]))
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
