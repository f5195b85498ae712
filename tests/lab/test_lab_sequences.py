"""The embedded lab run as the harness runs a real one: faults over SSH on the storage nodes, ESXi logs read over
SSH, the documented sequences judged with faultlab.assertions (issue 3, item 7)."""

# One module-scoped lab (1 ESXi host, 2 Windows VMs on the NFS datastore) with the lab-scaled defaults. Every
# bound comes from the host's own settings, read with esxcli over SSH. Faults are iptables rules tagged with a
# comment in the target's namespace, or `faultlab-target` verbs; each is healed in `finally`. The tests wait
# for events by polling the logs over SSH against monotonic deadlines; the only sleep holds a fault.

from __future__ import annotations

import contextlib
import io
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from faultlab.assertions import catalog
from faultlab.assertions.checks import CheckResult, check_count, check_in_order, check_never
from faultlab.assertions.model import Event, LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.assertions.steps import Step
from faultlab.assertions.timeline import Timeline
from faultlab.lab.inventory import Datastore, Inventory, load_inventory
from faultlab.lab.ssh import CommandResult, SshClient, SshPool
from faultlab.sim.esxi.control import call
from faultlab.sim.esxinode import control_socket
from faultlab.sim.lab import EmbeddedLab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.destructive,
    pytest.mark.skipif(os.geteuid() != 0, reason="the embedded lab needs root (sudo .venv/bin/pytest -m lab ...)"),
]

HOST = "esx01"
VMS = ("win01", "win02")
LOGS = {"vobd.log": LogKind.VOBD, "vmkernel.log": LogKind.VMKERNEL, "hostd.log": LogKind.HOSTD}
POLL_S = 0.25
APD_SLACK_S = 2.0  # how late past Misc.APDTimeout the APD timeout may come on a loaded 2-core machine
Check = Callable[[Timeline], CheckResult]
VOBD = frozenset({LogKind.VOBD})  # the storage sequences are judged on what vobd shows


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Marks:
    """Where each log stood when a test began (remote path -> size); events are read from there on."""

    sizes: dict[str, int]
    anchors: dict[str, datetime] = field(default_factory=dict)


@dataclass
class Lab:
    lab: EmbeddedLab
    inv: Inventory
    pool: SshPool

    @property
    def esx(self) -> SshClient:
        return self.pool.get(HOST)

    @property
    def nfs(self) -> Datastore:
        return next(d for d in self.inv.datastores if d.type == "nfs")

    @property
    def vmfs(self) -> Datastore:
        return next(d for d in self.inv.datastores if d.type == "vmfs")

    def setting(self, name: str) -> int:
        """An advanced option of the host, as `esxcli system settings advanced list -o` prints it."""
        out = self.esx.run(["esxcli", "system", "settings", "advanced", "list", "-o", name], check=True).stdout
        m = re.search(r"^\s*Int Value: (\d+)$", out, re.M)
        assert m, f"no Int Value for {name} in: {out!r}"
        return int(m.group(1))

    def vm_log(self, vm: str) -> str:
        entry = self.inv.vm(vm)
        assert entry.vmx_path, vm
        ds, rel = re.fullmatch(r"\[(.+)\] (.+)", entry.vmx_path).groups()  # type: ignore[union-attr]
        return f"/vmfs/volumes/{ds}/{os.path.dirname(rel)}/vmware.log"

    def paths(self) -> dict[str, LogKind]:
        log_dir = self.inv.host(HOST).log_dir
        out = {f"{log_dir}/{name}": kind for name, kind in LOGS.items()}
        out.update({self.vm_log(vm): LogKind.VMWARE for vm in VMS})
        return out

    def mark(self) -> Marks:
        sizes = {}
        for path in self.paths():
            st = self.esx.stat(path)
            sizes[path] = st.size if st else 0
        return Marks(sizes)

    def events(self, marks: Marks, kinds: frozenset[LogKind] | None = None) -> list[Event]:
        """Every catalog event written since `marks` (in logs of `kinds`), parsed by faultlab's own scanners."""
        events: list[Event] = []
        for path, kind in self.paths().items():
            if kinds is not None and kind not in kinds:
                continue
            data = self.esx.read_file(path, marks.sizes.get(path, 0))
            found, _ = scan_stream(io.BytesIO(data), kind=kind, name=path, host=HOST)
            events.extend(found)
        catalog.link_twins(events)
        return events

    def timeline(self, marks: Marks, kinds: frozenset[LogKind] | None = None) -> Timeline:
        return Timeline.build(self.events(marks, kinds), anchors=marks.anchors)

    def wait(
        self, marks: Marks, what: str, check: Check, timeout_s: float, kinds: frozenset[LogKind] | None = None
    ) -> Timeline:
        """Poll the host's logs over SSH until `check` passes; fail with its last explanation at the deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            tl = self.timeline(marks, kinds)
            result = check(tl)
            if result.passed:
                return tl
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout_s:g} s: " + "\n".join(result.lines()))
            time.sleep(POLL_S)

    def watch(self, marks: Marks, until: float, forbidden: list[str]) -> Timeline:
        """Poll the logs until monotonic time `until`, failing as soon as a forbidden event shows up."""
        while True:
            tl = self.timeline(marks)
            result = check_never(forbidden, tl)
            assert result.passed, "\n".join(result.lines())
            if time.monotonic() >= until:
                return tl
            time.sleep(POLL_S)

    def run_on(self, node: str, argv: list[str]) -> CommandResult:
        return self.pool.get(node).run(argv, check=True)


def in_order(*steps: Step) -> Check:
    return lambda tl: check_in_order(list(steps), tl)


def assert_check(result: CheckResult) -> None:
    __tracebackhide__ = True
    assert result.passed, "\n".join(result.lines())


LAB_SHAPE = {"hosts": 1, "vms": len(VMS)}


@pytest.fixture(scope="module")
def lab(embedded_lab: EmbeddedLab) -> Iterator[Lab]:
    embedded = embedded_lab
    assert embedded.hosts_running, "the simulated ESXi host process is not installed"
    inv = load_inventory(embedded.inventory_path)
    with SshPool(inv, command_timeout=30) as pool:
        the_lab = Lab(embedded, inv, pool)
        deadline = time.monotonic() + 30
        for vm in VMS:  # the guests are up once their VMX has written vmware.log through NFS
            while (st := the_lab.esx.stat(the_lab.vm_log(vm))) is None or st.size == 0:
                assert time.monotonic() < deadline, f"{vm}: vmware.log not written within 30 s of lab up"
                time.sleep(POLL_S)
        yield the_lab


@contextlib.contextmanager
def fault(lab: Lab, marks: Marks, node: str, inject: list[list[str]], heal: list[list[str]]) -> Iterator[None]:
    """Run `inject` over SSH on `node`; always run `heal`. Anchors fault.injected / fault.healed are taken just
    before the commands, so "after fault.healed" can only be met by what the heal caused."""
    marks.anchors["fault.injected"] = now()
    healed: list[CommandResult] = []
    try:
        for argv in inject:
            lab.run_on(node, argv)
        yield
    finally:
        marks.anchors["fault.healed"] = now()
        healed = [lab.pool.get(node).run(argv) for argv in heal]
    failed = [f"{r.command}: exit {r.exit_status} {r.stderr.strip()}" for r in healed if not r.succeeded]
    assert not failed, f"heal on {node} failed: {failed}"


def blackhole_rules(lab: Lab, target: str, tag: str) -> list[list[str]]:
    """DROP the ESXi host's packets to the target's storage ports (TCP, and UDP but for iSCSI), tagged."""
    ports = ",".join(str(p) for p in sorted(set(lab.inv.target(target).ports.values())))
    src = lab.inv.host(HOST).address
    protos = ["tcp"] if lab.inv.target(target).kind == "iscsi" else ["tcp", "udp"]
    return [
        ["-s", src, "-p", p, "-m", "multiport", "--dports", ports, "-m", "comment", "--comment", tag, "-j", "DROP"]
        for p in protos
    ]


@contextlib.contextmanager
def blackhole(lab: Lab, marks: Marks, target: str) -> Iterator[None]:
    tag = f"faultlab-test-{uuid.uuid4().hex[:8]}"
    rules = blackhole_rules(lab, target, tag)
    ipt = ["iptables", "-w", "5"]
    with fault(
        lab, marks, target, [[*ipt, "-I", "INPUT", *r] for r in rules], [[*ipt, "-D", "INPUT", *r] for r in rules]
    ):
        yield
    left = lab.pool.get(target).run([*ipt, "-S", "INPUT"], check=True).stdout
    assert tag not in left, f"heal left tagged rules behind on {target}: {left}"


def apd_steps(subject: str, timeout_s: int) -> tuple[Step, Step]:
    start = Step("apd.start", subject=subject, after="fault.injected")
    timeout = Step(
        "apd.timeout",
        subject=subject,
        after="apd.start",
        at_least=timedelta(seconds=timeout_s),
        within=timedelta(seconds=timeout_s + APD_SLACK_S),
        why_at_least="Misc.APDTimeout",
        why_within=f"Misc.APDTimeout + {APD_SLACK_S:g}s",
    )
    return start, timeout


def nfs_outage_budget(lab: Lab) -> float:
    """Seconds from the cut to the APD timeout by the host's settings, plus margin."""
    freq, timeout = lab.setting("/NFS/HeartbeatFrequency"), lab.setting("/NFS/HeartbeatTimeout")
    return freq * lab.setting("/NFS/HeartbeatMaxFailures") + timeout + lab.setting("/Misc/APDTimeout") + 10


def wait_guests_back(lab: Lab, marks: Marks, timeout_s: float = 30) -> None:
    """Each VM's guest bugchecked and runs again: WinBSOD lines, then Tools running again (vmware.log)."""
    deadline = time.monotonic() + timeout_s
    for vm in VMS:
        while True:
            path = lab.vm_log(vm)
            text = lab.esx.read_file(path, marks.sizes.get(path, 0)).decode(errors="replace")
            bsod = text.find("WinBSOD")
            if bsod >= 0 and "Tools: Changing running status: 0 => 1." in text[bsod:]:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{vm}: guest not back with Tools running within {timeout_s:g} s:\n{text[-2000:]}")
            time.sleep(POLL_S)


def nfs_outage(lab: Lab, marks: Marks, inject: Callable[[], contextlib.AbstractContextManager[None]]) -> Timeline:
    """Hold an NFS outage until the APD timeout and the server loss are logged, heal, wait for recovery; judge
    the documented vobd/vmkernel sequence. Returns the final timeline."""
    apd_timeout = lab.setting("/Misc/APDTimeout")
    vol, ds = lab.nfs.volume_uuid or "", lab.nfs.name  # vobd APD: the volume id; nfs.server.*: the label
    start, timeout = apd_steps(vol, apd_timeout)
    lost = Step("nfs.server.lost", subject=ds, after="fault.injected")
    with inject():
        lab.wait(marks, "APD timeout, NFS server lost", in_order(start, lost, timeout), nfs_outage_budget(lab), VOBD)
    restored = Step("nfs.server.restored", subject=ds, after="fault.healed")
    exit_ = Step("apd.exit", subject=vol, after="fault.healed")
    tl = lab.wait(marks, "NFS server restored, APD exit", in_order(restored, exit_), 20, VOBD)
    assert_check(check_in_order([start, lost, timeout, restored, exit_], tl))
    assert_check(check_never(["pdl", "path.dead"], tl))
    return tl


def bsod_steps(code: int = 0xEF) -> list[Check]:
    """One guest.bsod per VM, with the crash MSRs, no earlier than the heal (the stalled I/O completes then)."""
    return [
        in_order(Step("guest.bsod", vm=vm, fields={"code": code}, after="fault.healed", within=timedelta(seconds=15)))
        for vm in VMS
    ]


# -- tests, in an order that keeps each one's window clean ---------------------------------------------------


def test_idle_host_state_machines_run_on_schedule(lab: Lab) -> None:
    """The simulator's own `stats`: every periodic state machine ticks; heartbeats and guest I/O stay within 20 %
    of their period (the benchmark's bound) in a fresh window, so boot-time contention does not count."""
    sock = control_socket(lab.lab.node(HOST))
    freq = lab.setting("/NFS/HeartbeatFrequency")
    call(sock, "stats", reset=True)
    deadline = time.monotonic() + 2 * freq + 5  # two heartbeat rounds in the new window
    while True:
        stats = call(sock, "stats")
        if min(m["count"] for m in stats["machines"].values()) >= 2:
            break
        assert time.monotonic() < deadline, stats
        time.sleep(POLL_S)
    machines = stats["machines"]
    judged = {
        f"{lab.nfs.name}/nfs.heartbeat",
        f"{lab.vmfs.name}/vmfs.heartbeat",
        *(f"{v}/guest.disk_io" for v in VMS),  # its "lateness" is the I/O time, its period the disk TimeOutValue
    }
    assert judged | {f"{v}/guest.io" for v in VMS} <= machines.keys(), machines
    for name in judged:
        m = machines[name]
        assert m["late_max_ms"] <= 0.2 * m["period_s"] * 1000, (name, m)
    assert (stats["apd_starts"], stats["guest_crashes"]) == (0, 0)
    assert freq == machines[f"{lab.nfs.name}/nfs.heartbeat"]["period_s"]


def test_nfs_blip_shorter_than_heartbeat_budget_no_apd_no_bsod(lab: Lab) -> None:
    freq, hb_timeout = lab.setting("/NFS/HeartbeatFrequency"), lab.setting("/NFS/HeartbeatTimeout")
    marks = lab.mark()
    hold_s = freq / 2  # at most one heartbeat can fail: APD needs consecutive failures
    with blackhole(lab, marks, "nfs01"):
        time.sleep(hold_s)  # holding the fault: the one sleep that is meant
    # A would-be APD shows after a second failed heartbeat: watch one full budget past the heal.
    until = time.monotonic() + 2 * freq + hb_timeout + 1
    tl = lab.watch(marks, until, ["apd.*", "nfs.server.lost", "guest.bsod", "guest.tools_heartbeat.lost"])
    assert_check(check_never(["apd.*", "nfs.server.*", "guest.bsod", "pdl"], tl))
    for vm in VMS:  # the guests kept writing through the blip: their disks were written after the heal
        healed = marks.anchors["fault.healed"].timestamp()
        disk = lab.vm_log(vm).replace("vmware.log", f"{vm}-flat.vmdk")
        deadline = time.monotonic() + 10
        while (st := lab.esx.stat(disk)) is None or st.mtime <= int(healed):  # a write in a later second
            assert time.monotonic() < deadline, f"{vm}: no guest write after the blip"
            time.sleep(POLL_S)


def test_nfs_blackhole_past_apd_timeout_bsod_then_recovery(lab: Lab) -> None:
    marks = lab.mark()
    tl = nfs_outage(lab, marks, lambda: blackhole(lab, marks, "nfs01"))
    for check in bsod_steps():
        tl = lab.wait(marks, "WinBSOD in vmware.log", check, 20)
    wait_guests_back(lab, marks)
    tl = lab.timeline(marks)
    for vm in VMS:  # hostd's IoTracker saw the .vmx read hang during the outage
        assert_check(
            check_in_order(
                [Step("hostd.slow_io", subject=f"*/{vm}/{vm}.vmx", after="fault.injected")],
                tl,
            )
        )
        bsod = [e for e in tl.events() if e.name == "guest.bsod" and e.subject == vm]
        assert len(bsod) == 1 and bsod[0].fields["name"] == "CRITICAL_PROCESS_DIED", bsod
        assert len(bsod[0].fields["params"]) == 4
    assert_check(check_count("guest.bsod", tl, min=len(VMS), max=len(VMS)))


def test_nfs_service_stopped_past_apd_timeout(lab: Lab) -> None:
    marks = lab.mark()
    stop, start = ["faultlab-target", "stop"], ["faultlab-target", "start"]
    nfs_outage(lab, marks, lambda: fault(lab, marks, "nfs01", [stop], [start]))
    assert "active (running)" in lab.pool.get("nfs01").run(["faultlab-target", "status"]).stdout
    for check in bsod_steps():
        lab.wait(marks, "WinBSOD in vmware.log", check, 20)
    wait_guests_back(lab, marks)


def test_nfs_service_frozen_past_apd_timeout(lab: Lab) -> None:
    marks = lab.mark()
    freeze, thaw = ["faultlab-target", "freeze"], ["faultlab-target", "thaw"]
    nfs_outage(lab, marks, lambda: fault(lab, marks, "nfs01", [freeze], [thaw]))
    for check in bsod_steps():
        lab.wait(marks, "WinBSOD in vmware.log", check, 20)
    wait_guests_back(lab, marks)


def test_iscsi_blackhole_apd_vmfs_heartbeat_then_recovery(lab: Lab) -> None:
    apd_timeout = lab.setting("/Misc/APDTimeout")
    naa = lab.vmfs.naa_id or ""
    marks = lab.mark()
    start, timeout = apd_steps(naa, apd_timeout)
    dead = Step("path.dead", after="fault.injected")
    with blackhole(lab, marks, "iscsi01"):
        lab.wait(marks, "iSCSI path dead, APD timeout", in_order(dead, start, timeout), apd_timeout + 20, VOBD)
    on = Step("path.on", after="fault.healed")
    exit_ = Step("apd.exit", subject=naa, after="fault.healed")
    reclaimed = Step("vmfs.heartbeat.reclaimed", after="fault.healed")
    tl = lab.wait(marks, "path on, APD exit, VMFS heartbeat reclaimed", in_order(on, exit_, reclaimed), 20, VOBD)
    assert_check(check_in_order([dead, start, timeout, on, exit_, reclaimed], tl))
    assert_check(check_count("vmfs.heartbeat.timeout", tl, min=1))
    assert_check(check_never(["pdl", "nfs.server.*", "guest.bsod"], tl))


def test_iscsi_lun_removed_is_pdl_not_apd(lab: Lab) -> None:
    apd_timeout = lab.setting("/Misc/APDTimeout")
    naa = lab.vmfs.naa_id or ""
    marks = lab.mark()
    remove, add = ["faultlab-target", "lun-remove"], ["faultlab-target", "lun-add"]
    with fault(lab, marks, "iscsi01", [remove], [add]):
        lab.wait(marks, "PDL", in_order(Step("pdl", subject=naa, after="fault.injected")), 15)
        # Past the time an APD would have timed out: PDL is not APD, so neither may appear.
        until = time.monotonic() + apd_timeout + 1
        lab.watch(marks, until, ["apd.*"])
    deadline = time.monotonic() + 20
    while "   Status: on" not in (out := lab.esx.run(["esxcli", "storage", "core", "device", "list"]).stdout):
        assert time.monotonic() < deadline, f"device not back on after lun-add:\n{out}"
        time.sleep(POLL_S)
    tl = lab.timeline(marks)
    assert_check(check_never(["apd.*", "nfs.server.*"], tl))
    assert_check(check_count("pdl", tl, min=1))
