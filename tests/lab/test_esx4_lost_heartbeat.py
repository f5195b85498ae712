"""A real ESX 4.1 lab host whose Service Console runs out of memory: the Lost Heartbeat purple screen, the host gone
and back, log cursors intact across it, and triage's KB 308590 diagnosis from the collected bytes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from faultlab.assertions.diagnose.common import DiagVerdict
from faultlab.assertions.triage import triage
from faultlab.harness.cursors import LogCursors, esxi_log_paths
from faultlab.harness.faults.kinds import memory_leak
from faultlab.harness.faults.kinds.base import FaultRef, PlanContext
from faultlab.lab.errors import LabError
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshPool
from faultlab.sim.lab import EmbeddedLab
from tests.lab.conftest import wait_for

pytestmark = [
    pytest.mark.lab,
    pytest.mark.destructive,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root (network namespaces)"),
]


# The host stays down 15 s (cos.reboot_s): long enough to see it gone between two polls.
def _answers(client: Any) -> bool:
    try:
        return bool(client.run("true").succeeded)
    except LabError:
        return False


LAB_SHAPE = {"hosts": 1, "vms": 1, "version": "4.1", "vcenter": False, "settings": {"cos.reboot_s": 15}}


def test_esx4_host_dies_of_lost_heartbeat_and_returns(embedded_lab: EmbeddedLab, tmp_path: Path) -> None:
    lab = embedded_lab
    inv = load_inventory(lab.inventory_path)
    host = inv.hosts[0]
    assert host.version == "4.1" and host.log_dir == "/var/log"
    node_dir = lab.node(host.name).node_dir
    varlog = node_dir / "cos" / "varlog"

    def diag() -> str:
        """What the host process and its logs say, for a failure message."""
        parts = []
        for f in (
            node_dir / "out" / "esxi-host.out",
            varlog / "vmksummary",
            varlog / "vmkernel",
            node_dir / "cos" / "meminfo",
        ):
            text = f.read_text(errors="replace") if f.exists() else "(missing)"
            parts.append(f"--- {f.name}:\n" + "\n".join(text.splitlines()[-15:]))
        return "\n".join(parts)

    with SshPool(inv, command_timeout=20, attempts=2) as pool:
        client = pool.get(host.name)
        assert client.run("vmware -v").stdout == "VMware ESX 4.1.0 build-260247\n"
        meminfo = client.run("cat /proc/meminfo").stdout
        assert re.search(r"^MemTotal:\s+799732 kB$", meminfo, re.M) and re.search(
            r"^SwapTotal:\s+554168 kB$", meminfo, re.M
        )
        assert "win01" in client.run("vim-cmd vmsvc/getallvms").stdout
        wait_for("a first vmksummary sample", lambda: "hb: vmk loaded" in (varlog / "vmksummary").read_text(), 10)
        cursors = LogCursors(client, esxi_log_paths(host.log_dir, version=host.version), host.name)
        marks = cursors.mark()

        def reachable() -> bool:
            """A new TCP connection to its SSH port within a second (a host in a purple screen answers nothing)."""
            try:
                socket.create_connection((host.address, 22), timeout=1.0).close()
            except OSError:
                return False
            return True

        ref = FaultRef("memory-leak", host.name, "faultlab:esx4test:f1")
        params = memory_leak.KIND.plan(
            PlanContext(inv, "esx4test", "f1", ()),
            memory_leak.MemoryLeakFault(kind="memory-leak", on=host.name, rate_kb_per_s=2048),
        )
        memory_leak.KIND.inject(ref, params, client)
        try:
            assert memory_leak.KIND.verify_active(ref, params, client) is True
            assert "VMap" in client.run("ps -e -o comm").stdout.split()
            wait_for("the host to go away (SSH unreachable)", lambda: not reachable(), 90, 0.5, diag)
            wait_for("the host to come back", reachable, 60, 0.5, diag)
            wait_for("SSH commands again", lambda: _answers(client), 30, 0.5, diag)
            assert memory_leak.KIND.verify_healed(ref, params, client) is True  # the reboot killed it
        finally:
            memory_leak.KIND.heal(ref, params, client)
        wait_for("the boot lines", lambda: (varlog / "vmksummary").read_text().count("Starting system...") == 2, 10)
        chunks = cursors.collect()
        meminfo_after = client.run("cat /proc/meminfo").stdout
        assert client.run("vim-cmd vmsvc/power.getstate 16").stdout.endswith("Powered on\n")
        old_cores = client.run("ls /var/core").stdout.split()
        made = client.run("cd /tmp && vm-support").stdout.strip()
        assert made.startswith("File: /tmp/esx-"), made
        bundle = tmp_path / "bundle" / made.rsplit("/", 1)[-1]
        bundle.parent.mkdir()
        bundle.write_bytes(client.read_file(made.removeprefix("File: ")))

    # Cursors across the reboot: exactly the bytes written since the mark, none lost or repeated.
    for path, mark in marks.items():
        local = varlog / path.removeprefix("/var/log/")
        data = chunks[path].data  # the host wrote on after the collection: the file holds it, then more
        assert local.read_bytes()[mark.size : mark.size + len(data)] == data and not chunks[path].gap, path
    summary = chunks["/var/log/vmksummary"].data.decode()
    vmkernel = chunks["/var/log/vmkernel"].data.decode()
    vmap = [int(m) for m in re.findall(r"VMap-(\d+)", summary[: summary.rindex("Starting system...")])]
    assert len(vmap) >= 2 and vmap == sorted(vmap) and vmap[-1] > vmap[0], summary
    assert "(comm=vmnixhbd pid=20 t=29 to=30 clt=1)." in vmkernel
    assert re.search(r"Lost heartbeat \(comm=VMap pid=\d+ t=30 to=30 clt=1\)\.", vmkernel)
    assert vmkernel.index("Host: 4781: COS Error: Lost heartbeat") < vmkernel.index("@BlueScreen: Lost heartbeat")
    assert "Starting system..." in summary and "loaded VMkernel" in summary
    assert any(n.startswith("vmkernel-zdump-") for n in old_cores) and any(
        n.startswith(f"cos-core-{host.name}.") for n in old_cores
    )

    # Triage over the run's own bytes (plus /proc/meminfo as the COS shows it after the reboot): KB 308590 true.
    for path, chunk in chunks.items():
        (tmp_path / path.rsplit("/", 1)[-1]).write_bytes(chunk.data)
    (tmp_path / "meminfo").write_text(meminfo_after)
    # (triage also files the folder's name as a host for these plain files; the host named in the lines is ours)
    [d] = [d for d in triage([tmp_path]).diagnoses if d.kb == "KB 308590" and d.subject == host.name]
    assert d.verdict is DiagVerdict.TRUE, d.summary
    assert d.figures["culprit"] == "VMap"
    # `faultlab triage` on the host's vm-support bundle taken after the reboot: the same diagnosis.
    [b] = [d for d in triage([bundle]).diagnoses if d.kb == "KB 308590" and d.subject == host.name]
    assert b.verdict is DiagVerdict.TRUE and b.figures["culprit"] == "VMap", b.summary
    print("\nvmksummary:\n" + summary + "\nvmkernel:\n" + vmkernel + "\n" + str(d.figures))


def _lab_ids() -> set[str]:
    """The embedded labs this machine has (their state folders, sim/lab.py's manifest)."""
    root = Path("/run/faultlab")
    return {p.name for p in root.iterdir() if (p / "manifest.json").exists()} if root.is_dir() else set()


def test_scenario_runs_with_no_lab_named_and_vcenter_sees_the_host_go_and_return(tmp_path: Path) -> None:
    """`faultlab run scenarios/esx4-lost-heartbeat.yaml` with no lab: a 4.1 embedded lab (with its vCenter) is
    brought up for it, the run passes, the vCenter showed the host not responding during the purple screen and
    connected after the boot (both recorded in the run), and no lab is left behind."""
    from faultlab.harness.record import PASSED, load_record

    before = _lab_ids()
    scenario = Path(__file__).resolve().parents[2] / "scenarios" / "esx4-lost-heartbeat.yaml"
    cli = [sys.executable, "-c", "from faultlab.harness.cli import main; main()"]
    argv = [*cli, "run", str(scenario), "--artifacts", str(tmp_path / "art"), "--state-dir", str(tmp_path / "l")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    print(done.stdout[-4000:], done.stderr[-2000:])
    assert "ESX(i) 4.1: 1 host(s), 1 NFS VM(s), 0 VMFS VM(s)" in done.stderr
    assert done.returncode == 0, done.stderr
    # the lab it brought up is down again (other labs may come and go meanwhile: xdist workers, other runs)
    started = re.findall(r"taking the embedded lab (\S+) down", done.stderr)
    assert len(started) == 1 and started[0] not in before and started[0] not in _lab_ids(), done.stderr
    [record_path] = (tmp_path / "art").glob("*/record.json")
    record, _ = load_record(record_path)
    assert record.outcome == PASSED, record.message
    # the purple screen's reboot killed the leak before the harness healed it: nothing was left to undo
    assert record.heal is not None and record.heal["status"] in ("healed", "already healed"), record.heal
    # ESX 4's own storage commands (esxcfg-nas, esxcfg-scsidevs): no "esxcli: command not found" in preflight,
    # and the datastore condition is judged on 4.1 like the VM's and the host's.
    assert not [n for n in record.notes if "esxcli" in n], record.notes
    met = {r.condition for r in record.recovery if r.met}
    assert {"datastore ds-nfs01 accessible", "vm win01 powered_on", "host esx01 connected"} <= met, record.recovery
    host_states = [o["value"] for o in record.observations if o["object"] == "host esx01"]
    assert host_states[:1] == ["connected"] and "notResponding" in host_states, record.observations
    assert host_states[-1] == "connected" and host_states.index("notResponding") < len(host_states) - 1
    vm_conn = [o["value"] for o in record.observations if o["object"] == "vm win01" and o["property"].endswith(
        "connectionState")]  # fmt: skip
    assert "disconnected" in vm_conn and vm_conn[-1] == "connected", vm_conn
    types = [e["type"] for e in record.vcenter_events if e["host"] == "esx01"]
    assert "HostConnectionLostEvent" in types and "HostConnectedEvent" in types, record.vcenter_events
    assert types.index("HostConnectionLostEvent") < types.index("HostConnectedEvent")
    lost = next(e for e in record.vcenter_events if e["type"] == "HostConnectionLostEvent")
    assert lost["message"].startswith("Host esx01 in ") and lost["message"].endswith(" is not responding")
    # The order on the harness clock: the heartbeat lost (vmkernel), then vCenter's lost event, then the boot.
    assert record.judgement is not None
    psod = min(e.time for e in record.judgement.named("host.psod") if e.time is not None)
    boot = max(e.time for e in record.judgement.named("host.boot") if e.time is not None)
    print(f"psod {psod}, vCenter lost {lost['time']}, boot {boot}")
