"""Unit tests of the inventory written by `lab up` and of the manifest (faultlab.sim.inventory, .manifest)."""

from __future__ import annotations

import os

import yaml

from faultlab.lab.inventory import parse_inventory
from faultlab.sim.inventory import inventory
from faultlab.sim.manifest import Manifest, process_start_time
from faultlab.sim.topology import Layout

LAYOUT = Layout("fl0a1b", 5, 2, ("win01", "win02"))


def test_inventory_lists_hosts_targets_datastores_and_vms() -> None:
    inv = inventory(LAYOUT, "8.0", hosts_running=True)
    assert [h["name"] for h in inv["hosts"]] == ["esx01", "esx02"]
    assert {t["kind"] for t in inv["storage_targets"]} == {"nfs", "iscsi"}
    assert all(t["allow_faults"] is True for t in inv["storage_targets"])
    nfs = next(t for t in inv["storage_targets"] if t["kind"] == "nfs")
    assert nfs["ports"]["nfs"] == 2049 and nfs["service"]["freeze"] == "faultlab-target freeze"
    assert "lun_remove" not in nfs["service"]
    ds = {d["name"]: d for d in inv["datastores"]}
    assert ds["ds-nfs01"]["remote_host"] == LAYOUT.nfs_node.ip and ds["ds-nfs01"]["remote_path"] == "/ds-nfs01"
    assert ds["ds-iscsi01"]["naa_id"] == LAYOUT.naa_id
    assert inv["vms"][0]["vmx_path"] == "[ds-nfs01] win01/win01.vmx"
    assert inv["ssh"]["private_key"] == str(LAYOUT.user_key)


def test_harness_accepts_the_inventory_and_may_fault_its_hosts() -> None:
    text = yaml.safe_dump(inventory(LAYOUT, "8.0", hosts_running=True), sort_keys=False)
    inv = parse_inventory(text, "inventory.yaml", check_files=False)
    for name in ("esx01", "esx02", "nfs01", "iscsi01"):
        inv.require_fault_allowed(name)  # raises FaultNotAllowedError without `allow_faults: true`
    assert all(h.allow_faults for h in inv.hosts)


def test_inventory_dumps_as_plain_yaml_without_aliases() -> None:
    text = yaml.safe_dump(inventory(LAYOUT, "7.0", hosts_running=False), sort_keys=False)
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text)["hosts"][0]["version"] == "7.0"


def test_manifest_owner_liveness_uses_pid_and_start_time() -> None:
    me = os.getpid()
    alive = Manifest("fl0a1b", 5, 1, [], owner_pid=me, owner_start=process_start_time(me))
    assert alive.owner_alive()
    reused = Manifest("fl0a1b", 5, 1, [], owner_pid=me, owner_start=(process_start_time(me) or 0) + 1)
    assert not reused.owner_alive()
    assert not Manifest("fl0a1b", 5, 1, []).owner_alive()  # detached CLI lab: nobody holds it
    assert process_start_time(2**22 + 1) is None
