"""Unit tests for the ESXi host JSON contract (faultlab.sim.config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faultlab.sim.config import EsxiHostConfig, load_host_config, write_host_config


def _config() -> EsxiHostConfig:
    return {
        "host_name": "esx01",
        "lab_id": "fl0001",
        "ip": "198.18.1.10",
        "node_dir": "/run/faultlab/fl0001/esx01",
        "log_dir": "/run/faultlab/fl0001/esx01/run/log",
        "control_socket": "/run/faultlab/fl0001/esx01/run/esxi-control.sock",
        "version_profile": "8.0",
        "nfs_datastores": [
            {
                "name": "ds-nfs01",
                "server_ip": "198.18.1.20",
                "export": "/ds-nfs01",
                "volume_uuid": "5c1f0a2b-7e3d4f61",
                "mount_point": "/vmfs/volumes/5c1f0a2b-7e3d4f61",
            }
        ],
        "iscsi_datastores": [],
        "vms": [{"name": "win01", "datastore": "ds-nfs01", "vmx_file": "win01/win01.vmx", "disk_file": "x"}],
        "settings": {"Misc.APDTimeout": 10},
    }


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "host.json"
    write_host_config(_config(), path)
    assert load_host_config(path) == _config()


def test_missing_key_is_named(tmp_path: Path) -> None:
    data = dict(_config())
    del data["control_socket"]
    path = tmp_path / "host.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="control_socket"):
        load_host_config(path)


def test_bad_version_profile(tmp_path: Path) -> None:
    data = dict(_config())
    data["version_profile"] = "6.5"
    path = tmp_path / "host.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version_profile"):
        load_host_config(path)
