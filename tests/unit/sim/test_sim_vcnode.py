"""The lab's `vc` node (simulated vCenter): its place in the layout, manifest pids, the inventory's section."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from faultlab.lab.credentials import SecretRef
from faultlab.lab.inventory import parse_inventory
from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.inventory import inventory as sim_inventory
from faultlab.sim.manifest import Manifest, process_start_time
from faultlab.sim.nodes import labvcenter
from faultlab.sim.topology import Layout, Role
from faultlab.sim.vcenter import PASSWORD_ENV, spec_from_inventory

VC_SECTION = {
    "address": "198.18.7.5",
    "port": 443,
    "user": "administrator@vsphere.local",
    "password": "${FAULTLAB_VC_PASSWORD}",
    "tls": {"verify": True, "ca_file": "/run/faultlab/fl3a9c/vcenter/cert.pem", "thumbprint": None},
}


def test_vc_node_only_when_asked_with_its_own_names() -> None:
    plain = Layout("fl3a9c", 7, 3, ("win01",))
    with_vc = Layout("fl3a9c", 7, 3, ("win01",), vcenter=True)
    assert Role.VCENTER not in {n.role for n in plain.nodes}
    vc = with_vc.nodes[-1]
    assert (vc.name, vc.role, vc.ip, vc.netns) == ("vc", Role.VCENTER, "198.18.7.5", "fl3a9c-vc")
    assert len(with_vc.nodes) == len(plain.nodes) + 1
    for attr in ("ip", "netns", "peer_tmp", "node_dir"):
        values = [getattr(n, attr) for n in with_vc.nodes]
        assert len(set(values)) == len(values), attr
    assert with_vc.vcenter_dir == Path("/run/faultlab/fl3a9c/vcenter") != vc.node_dir


def test_manifest_keeps_vcenter_flag_and_pids_and_ignores_reused_pid(tmp_path: Path) -> None:
    m = Manifest("fl0a1b", 5, 1, ["win01"], vcenter=True)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        m.pids = {"live": [child.pid, process_start_time(child.pid) or 0], "reused": [os.getpid(), 1]}
        assert m.live_pids() == {"live": child.pid}  # same pid, other start time: not ours
    finally:
        child.kill()
        child.wait()
    assert m.live_pids() == {}
    assert m.layout.vcenter and m.layout.nodes[-1].name == "vc"
    # Older manifests (no such keys) load as labs without vCenter.
    data = {"lab_id": "fl0a1b", "subnet": 5, "hosts": 1, "vm_names": []}
    assert Manifest(**data).layout.vcenter is False  # type: ignore[arg-type]


def test_inventory_vcenter_section_loads_and_spec_matches_the_lab() -> None:
    layout = Layout("fl3a9c", 7, 2, ("win01", "win02"), vcenter=True)
    data = sim_inventory(layout, "8.0", True, VC_SECTION)
    inv = parse_inventory(yaml.safe_dump(data, sort_keys=False), "lab.yaml", check_files=False)
    assert inv.vcenter is not None
    assert inv.vcenter.password == SecretRef(PASSWORD_ENV)
    assert inv.vcenter.tls.verify and inv.vcenter.tls.ca_file == Path("/run/faultlab/fl3a9c/vcenter/cert.pem")
    spec = spec_from_inventory(data, address=layout.vc_node.ip, password="x")
    spec.validate()
    assert [h.name for h in spec.hosts] == ["esx01", "esx02"]
    nfs = next(d for d in spec.datastores if d.type == "nfs")
    assert nfs.path == str(layout.export_dir)
    assert sim_inventory(Layout("fl3a9c", 7, 1, ()), "8.0", True)["vcenter"] is None


def test_vcenter_env_reads_the_password_file_and_refuses_a_lab_without_vcenter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = Layout("fl3a9c", 7, 1, (), vcenter=True)
    monkeypatch.setattr(Layout, "vcenter_dir", property(lambda self: tmp_path))
    with pytest.raises(EmbeddedLabError, match="no simulated vCenter"):
        labvcenter.vcenter_env_of(layout)
    (tmp_path / "password").write_text("s3cret\n")
    assert labvcenter.vcenter_env_of(layout) == {PASSWORD_ENV: "s3cret"}
    with pytest.raises(EmbeddedLabError, match="--no-vcenter"):
        labvcenter.vcenter_env_of(Layout("fl3a9c", 7, 1, ()))


def test_build_notice_only_when_the_launcher_must_be_built(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    builds: list[None] = []
    monkeypatch.setattr(labvcenter, "ensure_binary", lambda: builds.append(None))
    for cached, expected in ((True, ""), (False, labvcenter.BUILD_NOTICE + "\n")):
        monkeypatch.setattr(labvcenter, "binary_cached", lambda cached=cached: cached)
        labvcenter.prepare_binary()
        out = capsys.readouterr()
        assert (out.out, out.err) == ("", expected)
    assert len(builds) == 2


def test_stop_recorded_ends_our_processes_bridge_first_and_spares_a_reused_pid() -> None:
    sleepers = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    try:
        m = Manifest("fl0a1b", 5, 1, [], vcenter=True)
        names = ("vcsim", "vc-bridge")
        m.pids = {name: [p.pid, process_start_time(p.pid) or 0] for name, p in zip(names, sleepers, strict=True)}
        m.pids["stale"] = [os.getpid(), 1]  # our own pid with another start time: must not be signalled
        assert labvcenter.stop_recorded(m) == ["vc-bridge", "vcsim"]
        assert [process_start_time(p.pid) for p in sleepers] == [None, None]  # ended (and reaped) by pid
        assert process_start_time(os.getpid()) is not None
        assert m.live_pids() == {} and labvcenter.stop_recorded(m) == []
    finally:
        for p in sleepers:
            p.kill()
            p.wait()
