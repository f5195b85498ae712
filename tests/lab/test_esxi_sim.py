"""Lab tests of the simulated ESXi host against real ganesha (NFSv3) and tgtd (iSCSI) in namespaces."""

# The fixture builds its own two namespaces (198.18.200.0/24, apart from `lab up`'s ranges): a target node
# running rpcbind + nfs-ganesha + tgtd, and an ESXi node running two simulated hosts (profiles 8.0 and 7.0).
# Faults are iptables DROP rules in the target's namespace and a tgtadm LUN removal. Assertions use plain
# regexes over the written logs, never faultlab.assertions.

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from faultlab.sim.config import EsxiHostConfig, write_host_config
from faultlab.sim.esxi.commands.control import ControlError, call
from tests.lab.conftest import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.destructive]

ESX_IP, TGT_IP = "198.18.200.1", "198.18.200.2"
IQN = "iqn.2026-11.lab.faultlab:esxisim.lun01"
NAA = "naa.60000000000000000e00000000c80001"
APD_TIMEOUT = 6
TOOLS = ("ip", "iptables", "unshare", "rpcbind", "ganesha.nfsd", "tgtd", "tgtadm")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True, text=True, timeout=30)


def ts(line: str) -> datetime:
    """The leading ESXi timestamp of a log line."""
    return datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")


@dataclass
class Host:
    name: str
    profile: str
    vm: str
    log_dir: Path
    control: Path
    proc: subprocess.Popen[bytes]
    vm_dir: Path

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text() if path.exists() else ""

    def vmware_log(self) -> str:
        path = self.vm_dir / "vmware.log"
        return path.read_text() if path.exists() else ""

    def snapshot(self) -> dict[str, Any]:
        return dict(call(self.control, "snapshot"))

    def ds(self, name: str) -> dict[str, Any]:
        return next(d for d in self.snapshot()["datastores"] if d["name"] == name)

    def vm_state(self) -> dict[str, Any]:
        return dict(self.snapshot()["vms"][0])


def cli(host: Host, module: str, *args: str) -> str:
    """Run the host's esxcli / vim-cmd as the SSH wrappers do; returns stdout (fails on a non-zero exit)."""
    env = {**os.environ, "FAULTLAB_ESXI_CONTROL": str(host.control)}
    argv = [sys.executable, "-m", f"faultlab.sim.esxi.commands.{module}", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True, timeout=30).stdout


def answers(host: Host) -> bool:
    try:
        host.snapshot()
    except ControlError:
        return False
    return True


def settled(host: Host) -> bool:
    try:
        snap = host.snapshot()
    except ControlError:
        return False
    return all(d["accessible"] for d in snap["datastores"]) and snap["vms"][0]["writesAcked"] > 5


def in_log(host: Host, name: str, text: str, since: int) -> bool:
    return text in host.log(name)[since:]


def writing(host: Host) -> bool:
    return bool(host.vm_state()["currentStall_s"] == 0.0)


def bsod_logged(host: Host) -> bool:
    return host.vmware_log().count("WinBSOD") == 5


def guest_back(host: Host) -> bool:
    vm = host.vm_state()
    return vm["guestHeartbeatStatus"] == "green" and vm["lastVerify"] is not None


@dataclass
class Lab:
    suffix: str
    esx_ns: str
    tgt_ns: str
    tgt_port: int
    export: Path
    hosts: list[Host]
    dir: Path
    stack: contextlib.ExitStack

    def start_host(self, name: str, profile: str, vm: str, guest: dict[str, Any], *, iscsi: bool) -> Host:
        """Start one simulated host process in the ESXi namespace (its output in <lab dir>/<name>.out)."""
        cfg, path = _host_config(self.dir, name, profile, vm, guest, iscsi=iscsi)
        output = self.stack.enter_context(open(self.dir / f"{name}.out", "wb"))  # noqa: SIM115 (closed by stack)
        argv = [
            "ip",
            "netns",
            "exec",
            self.esx_ns,
            sys.executable,
            "-m",
            "faultlab.sim.esxi.host",
            "--config",
            str(path),
        ]
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        self.stack.callback(_stop, proc)
        return Host(name, profile, vm, Path(cfg["log_dir"]), Path(cfg["control_socket"]), proc, self.export / vm)

    def iptables(self, action: str, port: int) -> None:
        _run(
            "ip",
            "netns",
            "exec",
            self.tgt_ns,
            "iptables",
            action,
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            str(port),
            "-m",
            "comment",
            "--comment",
            f"faultlab-esxisim-{self.suffix}",
            "-j",
            "DROP",
        )

    def tgtadm(self, *args: str) -> None:
        _run("tgtadm", "-C", str(self.tgt_port), "--lld", "iscsi", *args)

    def add_lun(self, backing: Path) -> None:
        self.tgtadm("--op", "new", "--mode", "logicalunit", "--tid", "1", "--lun", "1", "-b", str(backing))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def _host_config(
    lab_dir: Path, name: str, profile: str, vm: str, guest: dict[str, Any], *, iscsi: bool
) -> tuple[EsxiHostConfig, Path]:
    node = lab_dir / name
    (node / "run" / "log").mkdir(parents=True)
    cfg: dict[str, Any] = {
        "host_name": name,
        "lab_id": "esxisim",
        "ip": ESX_IP,
        "node_dir": str(node),
        "log_dir": str(node / "run" / "log"),
        "control_socket": str(node / "run" / "esxi-control.sock"),
        "version_profile": profile,
        "nfs_datastores": [
            {
                "name": "ds-nfs01",
                "server_ip": TGT_IP,
                "export": str(lab_dir / "export"),
                "volume_uuid": "5c1f0a2b-7e3d4f61",
                "mount_point": "/vmfs/volumes/5c1f0a2b-7e3d4f61",
            }
        ],
        "iscsi_datastores": [],
        "vms": [
            {
                "name": vm,
                "datastore": "ds-nfs01",
                "vmx_file": f"{vm}/{vm}.vmx",
                "disk_file": f"{vm}/{vm}-flat.vmdk",
                "guest": guest,
            }
        ],
        "settings": {"Misc.APDTimeout": APD_TIMEOUT},
    }
    if iscsi:  # one host also mounts the iSCSI LUN (VMFS heartbeat, path state, PDL)
        cfg["iscsi_datastores"] = [
            {
                "name": "ds-iscsi01",
                "portal": f"{TGT_IP}:3260",
                "iqn": IQN,
                "lun": 1,
                "naa_id": NAA,
                "vmhba_path": "vmhba64:C0:T0:L1",
                "volume_uuid": "6a1b2c3d-4e5f6071-8293-a4b5c6d7e8f9",
                "mount_point": "/vmfs/volumes/6a1b2c3d-4e5f6071-8293-a4b5c6d7e8f9",
            }
        ]
    path = node / "host.json"
    write_host_config(cfg, path)  # type: ignore[arg-type]
    return cfg, path  # type: ignore[return-value]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, iptables): run `sudo .venv/bin/pytest -m lab`")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"lab tools missing: {', '.join(missing)} (run scripts/setup.sh as root)")
    suffix = f"{os.getpid() % 100000:05d}"
    esx_ns, tgt_ns = f"fles{suffix}", f"flts{suffix}"
    lab_dir = tmp_path_factory.mktemp("esxisim")
    os.chmod(lab_dir, 0o755)
    export = lab_dir / "export"
    export.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    tgt_port = 4000 + os.getpid() % 1000
    stack = contextlib.ExitStack()
    try:
        _run("ip", "netns", "add", esx_ns)
        _run("ip", "netns", "add", tgt_ns)
        _run("ip", "link", "add", f"fle{suffix}", "type", "veth", "peer", "name", f"flt{suffix}")
        _run("ip", "link", "set", f"fle{suffix}", "netns", esx_ns)
        _run("ip", "link", "set", f"flt{suffix}", "netns", tgt_ns)
        for ns, dev, ip in ((esx_ns, f"fle{suffix}", ESX_IP), (tgt_ns, f"flt{suffix}", TGT_IP)):
            _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", dev)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", ns, "link", "set", dev, "up")
        (lab_dir / "recovery").mkdir()
        (lab_dir / "ganesha.conf").write_text(
            "NFS_CORE_PARAM { Protocols = 3; Enable_NLM = false; Enable_RQUOTA = false; "
            f"Bind_addr = {TGT_IP}; }}\n"
            f"NFSV4 {{ Graceless = true; RecoveryRoot = {lab_dir / 'recovery'}; }}\n"
            f"EXPORT {{ Export_Id = 1; Path = {export}; Pseudo = {export}; Access_Type = RW; "
            "Squash = No_Root_Squash; SecType = sys; Protocols = 3; Transports = TCP; FSAL { Name = VFS; } }\n"
        )
        # rpcbind and ganesha share a private /run so they do not meet the host's (or another lab's) rpcbind.
        (lab_dir / "nfs.sh").write_text(
            "set -e\nmount --make-rprivate /\nmount -t tmpfs tmpfs /run\nmkdir -p /run/rpcbind /run/ganesha\n"
            f"rpcbind -f -w -h {TGT_IP} -h 127.0.0.1 & echo $! > {lab_dir / 'rpcbind.pid'}\nsleep 0.3\n"
            f"exec ganesha.nfsd -F -f {lab_dir / 'ganesha.conf'} -L {lab_dir / 'ganesha.log'} "
            "-p /run/ganesha/ganesha.pid -N NIV_EVENT\n"
        )
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", tgt_ns, "unshare", "-m", "sh", str(lab_dir / "nfs.sh")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        procs.append(
            subprocess.Popen(
                ["ip", "netns", "exec", tgt_ns, "tgtd", "-f", "-C", str(tgt_port), "--iscsi", f"portal={TGT_IP}:3260"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        lab = Lab(suffix, esx_ns, tgt_ns, tgt_port, export, [], lab_dir, stack)
        backing = lab_dir / "lun01.img"
        with open(backing, "wb") as handle:
            handle.truncate(64 * 1024 * 1024)
        wait_for(
            "tgtd control socket",
            lambda: (
                _run(
                    "tgtadm", "-C", str(tgt_port), "--lld", "iscsi", "--op", "show", "--mode", "target", check=False
                ).returncode
                == 0
            ),
            10,
        )
        lab.tgtadm("--op", "new", "--mode", "target", "--tid", "1", "-T", IQN)
        lab.add_lun(backing)
        lab.tgtadm("--op", "bind", "--mode", "target", "--tid", "1", "-I", "ALL")
        wait_for(
            "ganesha listening on 2049",
            lambda: ":2049" in _run("ip", "netns", "exec", tgt_ns, "ss", "-ltn", check=False).stdout,
            15,
        )

        specs: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
            ("esxa", "8.0", "win01", {}),
            (
                "esxb",
                "7.0",
                "win02",
                {"bugcheck_code": "0x7A", "bugcheck_params": ["0xfffff6fb40000000", "0xc000009d", "0x2e5a000", "0"]},
            ),
        )
        for name, profile, vm, guest in specs:
            lab.hosts.append(lab.start_host(name, profile, vm, guest, iscsi=profile == "8.0"))
        for host in lab.hosts:
            wait_for(f"{host.name} up with datastores accessible and guest writing", partial(settled, host), 20)
        yield lab
    finally:
        stack.close()  # the simulated hosts first (SIGTERM, as `lab down` does), then the targets
        rpcbind_pid = lab_dir / "rpcbind.pid"
        if rpcbind_pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(rpcbind_pid.read_text()), 15)
        for proc in procs[:2]:
            proc.terminate()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:  # tgtd ignores SIGTERM while it still serves a target
                proc.kill()
                proc.wait(5)
        for ns in (esx_ns, tgt_ns):
            _run("ip", "netns", "del", ns, check=False)


def test_hosts_boot_and_answer_esxcli(lab: Lab) -> None:
    for host in lab.hosts:
        assert re.search(r"Z (bootstop(\[\d+\])?: )?Host has booted$", host.log("vmksummary"), re.M), host.name
        out = cli(host, "esxcli", "storage", "nfs", "list")
        # 8.0 has Vmknic vmk0 and Connections (nfs-list.fixture-80.txt); 7.0 has neither (nfs-list.3.txt)
        vmknic = r"vmk0\s+" if host.profile == "8.0" else ""
        assert re.search(rf"^ds-nfs01\s+{re.escape(TGT_IP)}\s+\S+\s+{vmknic}true\s+true", out, re.M), out
        out = cli(host, "esxcli", "system", "settings", "advanced", "list", "-o", "/Misc/APDTimeout")
        assert f"   Int Value: {APD_TIMEOUT}\n" in out
        assert cli(host, "vimcmd", "vmsvc/power.getstate", "1") == "Retrieved runtime info\nPowered on\n"
    devices = cli(lab.hosts[0], "esxcli", "storage", "core", "device", "list")
    # the LUN's block among the local boot disk and CD-ROM a real host lists too
    lun = next((b for b in devices.split("\n\n") if b.startswith(f"{NAA}\n")), "")
    assert "   Status: on\n" in lun, devices
    assert re.search(r"^   Size: (\d+)$", lun, re.M).group(1) == "64", devices  # type: ignore[union-attr]
    paths = cli(lab.hosts[0], "esxcli", "storage", "core", "path", "list")
    assert "   Runtime Name: vmhba64:C0:T0:L1\n" in paths and "   State: active\n" in paths


def test_blip_shorter_than_heartbeat_budget_does_no_harm(lab: Lab) -> None:
    before = {h.name: (len(h.log("vobd")), h.vm_state()["crashes"]) for h in lab.hosts}
    lab.iptables("-I", 2049)
    time.sleep(1.0)  # the fault's hold time, not a wait for a condition
    lab.iptables("-D", 2049)
    for host in lab.hosts:
        wait_for(f"{host.name} guest writing again", partial(writing, host), 10)
    time.sleep(3.0)  # a would-be APD needs >= 2 failed heartbeats: give them the time to show
    for host in lab.hosts:
        vobd_len, crashes = before[host.name]
        assert "apd.start" not in host.log("vobd")[vobd_len:], host.name
        vm = host.vm_state()
        assert vm["crashes"] == crashes and vm["guestHeartbeatStatus"] == "green"
        assert "WinBSOD" not in host.vmware_log()


def test_nfs_outage_past_apd_timeout(lab: Lab) -> None:
    marks = {h.name: {k: len(h.log(k)) for k in ("vobd", "vmkernel", "hostd")} for h in lab.hosts}
    a = lab.hosts[0]
    lab.iptables("-I", 2049)
    cut = datetime.utcnow()
    try:
        for host in lab.hosts:
            wait_for(
                f"{host.name} APD timeout", partial(in_log, host, "vobd", "[esx.problem.storage.apd.timeout]", 0), 30
            )
        # After the timeout the API shows the datastore fast-failing, and hostd's .vmx read has failed.
        ds = a.ds("ds-nfs01")
        assert (ds["accessible"], ds["inaccessibleReason"]) == (False, "AllPathsDown_Timeout")
        out = cli(a, "esxcli", "storage", "nfs", "list")
        assert re.search(r"^ds-nfs01\s+\S+\s+\S+\s+vmk0\s+false\s+true", out, re.M), out
        for host in lab.hosts:
            wait_for(
                f"{host.name} hostd DictionaryLoad I/O error",
                partial(in_log, host, "hostd", "DictionaryLoad: Cannot open file", marks[host.name]["hostd"]),
                10,
            )
        assert "WinBSOD" not in a.vmware_log()  # the guest is doomed but its I/O has not completed yet
        assert a.vm_state()["guestState"] == "doomed"
    finally:
        lab.iptables("-D", 2049)
    healed = datetime.utcnow()
    for host in lab.hosts:
        wait_for(f"{host.name} APD exit", partial(in_log, host, "vobd", "[esx.clear.storage.apd.exit]", 0), 15)
        wait_for(f"{host.name} WinBSOD in vmware.log", partial(bsod_logged, host), 15)
        wait_for(
            f"{host.name} guest back with Tools heartbeat green",
            partial(guest_back, host),
            15,
        )

    for host in lab.hosts:
        vobd = host.log("vobd")[marks[host.name]["vobd"] :].splitlines()

        def first(pattern: str, lines: list[str] = vobd, h: Host = host) -> str:
            found = [line for line in lines if re.search(pattern, line)]
            assert found, f"{h.name}: no line matching {pattern!r}"
            return found[0]

        prefix = r"In\(14\) vobd\[\d+\]:  " if host.profile == "8.0" else r"Z: "
        start = first(
            r"\[vob\.storage\.apd\.start\] Device or filesystem with identifier \[5c1f0a2b-7e3d4f61\] "
            r"has entered the All Paths Down state\.$"
        )
        assert re.search(prefix + r"\[APDCorrelator\] \d+us: \[vob\.storage\.apd\.start\]", start)
        first(r"\[esx\.problem\.storage\.apd\.start\]")
        lost = first(
            r"\[vmfsCorrelator\] \d+us: \[esx\.problem\.vmfs\.nfs\.server\.disconnect\] "
            rf"{re.escape(TGT_IP)}/\S+ 5c1f0a2b-7e3d4f61-0000-000000000000 ds-nfs01$"
        )
        timeout = first(
            rf"\[vob\.storage\.apd\.timeout\] .* for {APD_TIMEOUT} seconds\. I/Os will now be fast failed\.$"
        )
        restored = first(
            r"\[vob\.vmfs\.nfs\.server\.restored\] Restored connection to the server "
            rf"{re.escape(TGT_IP)} mount point \S+, mounted as 5c1f0a2b-7e3d4f61-0000-000000000000 "
            r'\("ds-nfs01"\)$'
        )
        first(r"\[esx\.clear\.vmfs\.nfs\.server\.restored\]")
        exit_ = first(
            r"\[esx\.clear\.storage\.apd\.exit\] Device or filesystem with identifier \[5c1f0a2b-7e3d4f61\] "
            r"has exited the All Paths Down state\.$"
        )
        assert cut <= ts(start) <= ts(lost) <= ts(timeout) < ts(restored) <= ts(exit_)
        elapsed = (ts(timeout) - ts(start)).total_seconds()
        assert APD_TIMEOUT <= elapsed < APD_TIMEOUT + 0.5, elapsed  # no earlier than Misc.APDTimeout
        assert ts(restored) >= healed.replace(microsecond=0)

        vmk = host.log("vmkernel")[marks[host.name]["vmkernel"] :]
        assert re.search(
            r'NFS: \d+: Lost connection to the server \S+ mount point \S+, mounted as \S+ \("ds-nfs01"\)', vmk
        )
        assert re.search(
            r"NFS: \d+: Restored connection to the server \S+ mount point \S+, mounted as \S+ "
            r'\("ds-nfs01"\)',
            vmk,
        )
        hostd = host.log("hostd")[marks[host.name]["hostd"] :]
        assert re.search(
            r"\[Originator@6876 sub=IoTracker\] In thread \d+, fopen\(\"/vmfs/volumes/5c1f0a2b-7e3d4f61/"
            rf"{host.vm}/{host.vm}\.vmx\"\) took over \d+ sec\.$",
            hostd,
            re.M,
        )
        assert re.search(
            r"Event \d+ : Device or filesystem with identifier 5c1f0a2b-7e3d4f61 has entered the All "
            r"Paths Down state\.",
            hostd,
        )
        assert re.search(r'DictionaryLoad: Cannot open file "/vmfs/volumes/\S+\.vmx": Input/output error\.', hostd)

    # vmware.log (on the datastore, written through NFS): the five MSR lines, in each profile's layout.
    log80 = lab.hosts[0].vmware_log()
    # from one of the VM's two vCPUs; 0xEF's process address is drawn per run in the kernel range (not the KB's)
    msrs = re.findall(
        r"^\S+Z Wa\(03\) (vcpu-[01]) - WinBSOD: Synthetic MSR\[0x4000010(\d)\] (0x[0-9a-f]+)$", log80, re.M
    )
    assert [(i, v) for _, i, v in msrs][::2] == [("0", "0xef"), ("2", "0x0"), ("4", "0x0")] and len(msrs) == 5
    eprocess = int(msrs[1][2], 16)
    assert eprocess & 0xFFFF800000000000 == 0xFFFF800000000000 and eprocess % 0x40 == 0 and msrs[3][2] == "0x0"
    assert len({vcpu for vcpu, _, _ in msrs}) == 1
    assert len(re.findall(rf"^\S+Z Wa\(03\)\+ {msrs[0][0]} -$", log80, re.M)) == 4
    log70 = lab.hosts[1].vmware_log()
    msrs = re.findall(r"^\S+Z\| vcpu-[01]\| W003: WinBSOD: Synthetic MSR\[0x4000010\d\] (0x[0-9a-f]+)$", log70, re.M)
    assert msrs == ["0x7a", "0xfffff6fb40000000", "0xc000009d", "0x2e5a000", "0x0"]
    for host in lab.hosts:
        bsod_at = ts(re.search(r"^.*WinBSOD.*$", host.vmware_log(), re.M).group(0))  # type: ignore[union-attr]
        assert bsod_at >= healed.replace(microsecond=0)  # "as storage connectivity begins to recover"
        assert "Tools: Tools heartbeat timeout." in host.vmware_log()
        vm = host.vm_state()
        assert vm["crashes"] == 1 and vm["boots"] == 2 and vm["guestState"] == "running"
        assert vm["lastVerify"]["lost"] == 0 and vm["lastVerify"]["checked"] > 5
        events = [e["eventTypeId"] for e in host.snapshot()["events"]]
        for needed in (
            "esx.problem.storage.apd.start",
            "esx.problem.storage.apd.timeout",
            "esx.clear.storage.apd.exit",
            "VmGuestOSCrashedEvent",
        ):
            assert needed in events, (host.name, needed)
        assert host.ds("ds-nfs01")["accessible"] is True

    # A later reboot does not crash again; every acknowledged write is still there.
    for host in lab.hosts:
        bsod_lines = host.vmware_log().count("WinBSOD")
        answer = call(host.control, "guest.reboot", vm=host.vm, timeout_s=20)
        assert answer["rebooted"] and answer["lastVerify"]["lost"] == 0
        vm = host.vm_state()
        assert (vm["crashes"], vm["boots"], vm["guestHeartbeatStatus"]) == (1, 3, "green")
        verify = call(host.control, "verify", vm=host.vm)
        assert verify["lost"] == 0 and verify["checked"] > 5
        assert host.vmware_log().count("WinBSOD") == bsod_lines


def test_iscsi_path_loss_apd_and_vmfs_heartbeat_then_pdl(lab: Lab, tmp_path: Path) -> None:
    a = lab.hosts[0]
    mark = len(a.log("vobd"))
    lab.iptables("-I", 3260)
    try:
        wait_for(
            "iSCSI APD timeout",
            lambda: (
                "[esx.problem.storage.apd.timeout] Device or filesystem with "
                f"identifier [{NAA}]" in a.log("vobd")[mark:]
            ),
            30,
        )
        ds = a.ds("ds-iscsi01")
        assert (ds["inaccessibleReason"], ds["deviceStatus"], ds["vmfsHeartbeat"]) == (
            "AllPathsDown_Timeout",
            "dead",
            "timedout",
        )
    finally:
        lab.iptables("-D", 3260)
    wait_for(
        "iSCSI APD exit",
        lambda: f"[esx.clear.storage.apd.exit] Device or filesystem with identifier [{NAA}]" in a.log("vobd")[mark:],
        15,
    )
    wait_for("VMFS heartbeat reclaimed", lambda: "[esx.problem.vmfs.heartbeat.recovered]" in a.log("vobd")[mark:], 10)
    vobd = a.log("vobd")[mark:]
    order = [
        r"\[vob\.scsi\.scsipath\.pathstate\.dead\] scsiPath vmhba64:C0:T0:L1 changed state from on$",
        rf"\[esx\.problem\.storage\.connectivity\.lost\] Lost connectivity to storage device {NAA}\. "
        r'Path vmhba64:C0:T0:L1 is down\. Affected datastores: "ds-iscsi01"\.$',
        rf"\[vob\.storage\.apd\.start\] Device or filesystem with identifier \[{NAA}\]",
        r"\[esx\.problem\.vmfs\.heartbeat\.timedout\] 6a1b2c3d-4e5f6071-8293-a4b5c6d7e8f9 ds-iscsi01$",
        rf"\[vob\.storage\.apd\.timeout\] .* for {APD_TIMEOUT} seconds\.",
        r"\[vob\.scsi\.scsipath\.pathstate\.on\] scsiPath vmhba64:C0:T0:L1 changed state from dead$",
        rf"\[esx\.clear\.storage\.apd\.exit\] Device or filesystem with identifier \[{NAA}\]",
        r"\[vob\.vmfs\.heartbeat\.recovered\] Reclaimed heartbeat for volume 6a1b2c3d-4e5f6071-8293-a4b5c6d7e8f9 "
        r"ds-iscsi01  \[Timeout\] \[HB state abcdef02 offset \d+ gen \d+ stampUS \d+ ",
    ]
    positions = []
    for pattern in order:
        match = re.search(pattern, vobd, re.M)
        assert match, pattern
        positions.append(match.start())
    assert positions.index(min(positions)) == 0 and positions[-3] < positions[-2]
    vmk = a.log("vmkernel")
    assert 'iscsivmk_StopConnection: vmhba64:CH:0 T:0 CN:0: iSCSI connection is being marked "OFFLINE"' in vmk
    assert 'iscsivmk_StartConnection: vmhba64:CH:0 T:0 CN:0: iSCSI connection is being marked "ONLINE"' in vmk
    assert re.search(rf"ScsiDevice: \d+: Device {NAA} is Out of APD; token num:1", vmk)
    assert re.search(
        r"HBX: \d+: 'ds-iscsi01': HB at offset \d+ - Reclaimed heartbeat "
        r"\[Timeout\]:",
        vmk,
    )
    assert "WARNING: iscsi_vmk: iscsivmk_StopConnection" in a.log("vmkwarning")

    # PDL: the LUN is removed from the target, which then answers ILLEGAL REQUEST / LU NOT SUPPORTED.
    mark = len(a.log("vobd"))
    lab.tgtadm("--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "1")
    try:
        wait_for("PDL", lambda: "[esx.problem.scsi.device.state.permanentloss]" in a.log("vobd")[mark:], 10)
        ds = a.ds("ds-iscsi01")
        assert (ds["inaccessibleReason"], ds["deviceStatus"]) == ("PermanentDeviceLoss", "not connected")
        assert re.search(rf'dev "{NAA}" failed H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0\.', a.log("vmkernel"))
        time.sleep(APD_TIMEOUT / 2)  # PDL is not APD: no APD start may follow
        assert "apd.start" not in a.log("vobd")[mark:]
    finally:
        backing = lab.export.parent / "lun01.img"
        lab.add_lun(backing)
    wait_for("device back online", lambda: a.ds("ds-iscsi01")["deviceStatus"] == "on", 10)


def test_io_path_bench_measures_every_operation_against_a_tcp_round_trip(lab: Lab) -> None:
    """The I/O bench (benchmarks/io_overhead.py runs it) times each real operation of the host and the baseline
    of the same run; the figures are printed with -s. No time limit here: speed lives in the benchmark."""
    out = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            lab.esx_ns,
            sys.executable,
            "-m",
            "faultlab.sim.esxi.bench",
            "-n",
            "50",
            "--nfs",
            f"{TGT_IP}:{lab.export}",
            "--iscsi",
            f"{TGT_IP}:3260/{IQN}/1",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    figures = json.loads(out)
    print(json.dumps(figures, indent=1))  # shown with -s: the measured overhead
    assert list(figures["nfs"]) == [
        "tcp connect (baseline)",
        "mount",
        "getattr (heartbeat)",
        "open+write 512B+fsync+close (guest I/O)",
        "open+read+close (hostd .vmx)",
    ]
    assert list(figures["iscsi"]) == [
        "tcp connect (baseline)",
        "login",
        "test unit ready",
        "write16 512B FUA (VMFS heartbeat)",
    ]
    for ops in figures.values():
        base = ops["tcp connect (baseline)"]["median_ms"]
        for name, f in ops.items():
            assert 0 < f["median_ms"] <= f["p99_ms"], (name, f)
            if name != "tcp connect (baseline)":
                assert f["x_tcp_rtt"] == round(f["median_ms"] / base, 2), (name, f)


def test_host_starts_while_nfs_is_down_then_stops_cleanly(lab: Lab) -> None:
    """Booting into an outage: esxcli answers at once, the VM powers on once its datastore is back."""
    lab.iptables("-I", 2049)
    try:
        host = lab.start_host("esxc", "7.0", "win03", {}, iscsi=False)
        wait_for("control socket answering", partial(answers, host), 5)
        wait_for("APD start", partial(in_log, host, "vobd", "[esx.problem.storage.apd.start]", 0), 15)
        out = cli(host, "esxcli", "storage", "nfs", "list")
        assert re.search(r"^ds-nfs01\s+\S+\s+\S+\s+false\s+true", out, re.M), out  # 7.0: no Vmknic column
        assert cli(host, "vimcmd", "vmsvc/power.getstate", "1") == "Retrieved runtime info\nPowered off\n"
    finally:
        lab.iptables("-D", 2049)
    wait_for("VM powered on and writing", partial(settled, host), 20)
    assert "[esx.clear.storage.apd.exit]" in host.log("vobd")
    host.proc.terminate()
    assert host.proc.wait(10) == 0
    assert re.search(r"Z bootstop: Host is powering off$", host.log("vmksummary"), re.M)
    assert not host.control.exists()
