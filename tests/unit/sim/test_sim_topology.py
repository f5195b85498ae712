"""Unit tests of the lab's names, addresses and paths (faultlab.sim.topology)."""

from __future__ import annotations

import pytest

from faultlab.sim.topology import IFNAMSIZ, Layout, Role, choose_subnet, new_lab_id


def test_lab_id_shape() -> None:
    ids = {new_lab_id() for _ in range(50)}
    assert all(len(i) == 6 and i.startswith("fl") and int(i[2:], 16) >= 0 for i in ids)
    assert len(ids) > 1


def test_choose_subnet_skips_used_and_fails_when_full() -> None:
    assert choose_subnet(set()) == 1
    assert choose_subnet({1, 2, 4}) == 3
    with pytest.raises(ValueError, match="in use"):
        choose_subnet(set(range(1, 255)))


def test_names_fit_ifnamsiz_and_are_prefixed_with_lab_id() -> None:
    layout = Layout("fl0a1b", 7, 9, ("win01", "win02"))
    for node in layout.nodes:
        assert node.netns.startswith("fl0a1b-") and len(node.netns) <= IFNAMSIZ
        assert node.peer_tmp.startswith("fl0a1b") and len(node.peer_tmp) <= IFNAMSIZ
    assert len(layout.bridge) <= IFNAMSIZ
    assert len({n.netns for n in layout.nodes}) == len(layout.nodes)
    assert len({n.peer_tmp for n in layout.nodes}) == len(layout.nodes)


def test_addresses_are_in_the_benchmark_range_and_distinct() -> None:
    layout = Layout("fl0a1b", 42, 3, ("win01",))
    ips = [n.ip for n in layout.nodes]
    assert all(ip.startswith("198.18.42.") for ip in ips)
    assert layout.gateway_ip == "198.18.42.1"
    assert len(set(ips)) == len(ips) and layout.gateway_ip not in ips
    assert [n.name for n in layout.esxi_nodes] == ["esx01", "esx02", "esx03"]
    assert {n.role for n in layout.nodes} == {Role.ESXI, Role.NFS, Role.ISCSI}


def test_vms_spread_over_hosts_on_nfs_datastore() -> None:
    layout = Layout("fl0a1b", 1, 2, ("win01", "win02", "win03"))
    assert [(v.name, v.host) for v in layout.vms] == [("win01", "esx01"), ("win02", "esx02"), ("win03", "esx01")]
    assert layout.vms[0].disk_file == "win01/win01-flat.vmdk"


def test_storage_identifiers_are_stable_per_lab_and_differ_between_labs() -> None:
    a, b = Layout("fl0001", 1, 1, ()), Layout("fl0002", 2, 1, ())
    assert a.naa_id == Layout("fl0001", 9, 1, ()).naa_id
    assert a.naa_id != b.naa_id and a.nfs_volume_uuid != b.nfs_volume_uuid
    assert a.naa_id.startswith("naa.6") and len(a.naa_id) == 36
    assert [len(p) for p in a.vmfs_volume_uuid.split("-")] == [8, 8, 4, 12]
    assert a.iqn == "iqn.2026-11.lab.faultlab:fl0001.lun01"


@pytest.mark.parametrize(("lab_id", "subnet", "hosts"), [("xx0001", 1, 1), ("fl0001", 0, 1), ("fl0001", 1, 10)])
def test_invalid_layouts_are_refused(lab_id: str, subnet: int, hosts: int) -> None:
    with pytest.raises(ValueError):
        Layout(lab_id, subnet, hosts, ())
