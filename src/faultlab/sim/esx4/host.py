"""Entry point of one simulated ESX 4.x classic host: `python -m faultlab.sim.esx4.host --config <host.json>`.

It stands in for the VMkernel: it watches the Service Console's memory (faultlab.sim.esx4.cos, fed by the real
processes of the node), writes the COS's logs under /var/log as ESX 4 does, heartbeats through vmnixhbd, and on a
Lost Heartbeat draws the purple screen, takes the host away (SSH dropped, COS processes killed, VMs stopped) and
boots it again after `reboot_s`. Optional `cos` object in the config: see CosKnobs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from types import FrameType
from typing import Any

from faultlab.sim.esx4 import lines
from faultlab.sim.esx4.cos import HEARTBEAT_TIMEOUT_MIN, CosMemory, Heartbeat, MemState, netns_pids
from faultlab.sim.esxi.commands.control import ControlError, ControlServer

SSH_DOWN_TAG = "faultlab-esx4-psod"  # iptables comment of the rule that takes SSH away while the host is down


@dataclass
class CosKnobs:
    """The COS's sizes (KB 308590's host by default) and lab timings; `real` profile: the host's own values."""

    mem_total_kb: int = 799732
    swap_total_kb: int = 554168
    growth_scale: float = 1.0
    minute_s: float = 60.0  # one minute of the 30-minute heartbeat timeout
    vmksummary_s: float = 3600.0  # "written to once an hour" (KB 308590)
    reboot_s: float = 300.0  # purple screen to "Starting system..." (no documented figure: assumed)
    poll_s: float = 1.0
    uptime_offset_s: float = 0.0  # uptime already elapsed when the process starts

    @classmethod
    def from_config(cls, raw: dict[str, Any]) -> CosKnobs:
        out = cls()
        for f in fields(cls):
            if f.name in raw:
                setattr(out, f.name, type(getattr(out, f.name))(raw[f.name]))
        return out


class LogFiles:
    """/var/log/{vmkernel,vmkwarning,vmksummary,messages} and /var/log/vmware/hostd.log, appended line by line."""

    def __init__(self, log_dir: Path, host: str) -> None:
        self.dir, self.host = log_dir, host
        (log_dir / "vmware").mkdir(parents=True, exist_ok=True)
        for name in ("vmkernel", "vmkwarning", "vmksummary", "messages", "vmware/hostd.log"):
            (log_dir / name).touch()
        self._lock = threading.Lock()

    def write(self, name: str, line: str) -> None:
        with self._lock, (self.dir / name).open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class Esx4Host:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.name: str = cfg["host_name"]
        self.node_dir = Path(cfg["node_dir"])
        self.knobs = CosKnobs.from_config(cfg.get("cos") or {})
        self.stop = threading.Event()
        self.logs = LogFiles(Path(cfg["log_dir"]), self.name)
        self.memory = CosMemory(
            self.knobs.mem_total_kb, self.knobs.swap_total_kb, self.knobs.growth_scale, exclude=(os.getpid(),)
        )
        self.heartbeat = Heartbeat(self.knobs.minute_s)
        self.meminfo_path = Path(cfg.get("meminfo_file") or self.node_dir / "cos" / "meminfo")
        self.core_dir = Path(cfg.get("core_dir") or self.node_dir / "cos" / "core")
        self.vms = [
            {"vmid": i * 16, "name": v["name"], "datastore": v["datastore"], "vmx_file": v["vmx_file"], "power": "off"}
            for i, v in enumerate(cfg["vms"], start=1)
        ]
        self.up = False
        self.boot_epoch = time.time() - self.knobs.uptime_offset_s
        self.crashes = 0
        self.last: MemState | None = None
        self._lock = threading.Lock()
        self.control = ControlServer(Path(cfg["control_socket"]), self.handle, self.stop)

    # -- time and lines -------------------------------------------------------------------------------------------
    def uptime(self) -> float:
        return time.time() - self.boot_epoch

    def vmk(self, msg: str, cpu: int = 0, world: int = lines.COS_WORLD, warning: bool = False) -> None:
        line = lines.vmkernel(time.time(), self.name, self.uptime(), cpu, world, msg)
        self.logs.write("vmkernel", line)
        if warning:  # vmkwarning holds the VMkernel's WARNING/ALERT lines (KB 1003888 lists it beside vmkernel)
            self.logs.write("vmkwarning", line)

    # -- boot ------------------------------------------------------------------------------------------------------
    def boot(self, first: bool) -> None:
        now = int(time.time())
        if not first:
            self.boot_epoch = float(now)
            self._move_coredumps(now)
        self.logs.write("vmksummary", lines.vmkhalt(now, self.name, "Starting"))
        self.logs.write("vmksummary", lines.loaded_vmkernel(now, self.name))
        self.heartbeat = Heartbeat(self.knobs.minute_s)
        self.last = None  # the COS that died is gone: the next sample is the new one's
        self._ssh(allow=True)
        with self._lock:
            self.up = True
            for vm in self.vms:  # autostart: the VMs come back with the host
                self._power_on(vm)

    # hostd's thread id in its lines: 8 upper-case hex digits as in the real ones (17FA5B90, 62040B90); the lab's own.
    _HOSTD_THREAD = "F6131B70"

    def _vmx_path(self, vm: dict[str, Any]) -> str:
        """hostd names a VM by its .vmx under the datastore's UUID (`'vm:/vmfs/volumes/4acaa2a2-a85a3928-97b1-
        003048c93e5f/...vmx'`; an NFS volume's two-group UUID `116bf7c8-d061117a` in id 29931160007)."""
        uuids = {d["name"]: d["volume_uuid"] for d in [*(self.cfg.get("nfs_datastores") or []),
                                                        *(self.cfg.get("iscsi_datastores") or [])]}  # fmt: skip
        return f"/vmfs/volumes/{uuids.get(vm['datastore'], vm['datastore'])}/{vm['vmx_file']}"

    def _power_on(self, vm: dict[str, Any]) -> None:
        """A VM powered on (autostart at boot, `vim-cmd vmsvc/power.on`): hostd's two transitions. Called under
        _lock. A power-off writes nothing: no ESX 4 sample of its transitions was found."""
        if vm["power"] == "on":
            return
        vm["power"] = "on"
        for old, new in (("VM_STATE_OFF", "VM_STATE_POWERING_ON"), ("VM_STATE_POWERING_ON", "VM_STATE_ON")):
            line = lines.hostd(time.time(), self._HOSTD_THREAD, "info", f"vm:{self._vmx_path(vm)}",
                               lines.vm_state_transition(old, new))  # fmt: skip
            self.logs.write("vmware/hostd.log", line)

    def _move_coredumps(self, now: int) -> None:
        """KB 308590: the zdump is "named after the date and time of the next successful startup" and "placed in /root/
        or /var/core/"; the cos-core .core.gz "in /root/old_cores/ or /var/core/". Here: /var/core (the lab's /root
        is the machine's own). The zdump carries the VMkernel log of the crash; the COS image is an empty file."""
        self.core_dir.mkdir(parents=True, exist_ok=True)
        (self.core_dir / lines.zdump_name(now)).write_text(self._dump_log, encoding="utf-8")
        (self.core_dir / lines.cos_core_name(self.name, self._dump_pid)).write_bytes(b"")

    _dump_log = ""
    _dump_pid = 0

    # -- the heartbeat and the purple screen -----------------------------------------------------------------------
    def tick(self) -> None:
        state = self.memory.sample()
        self.last = state
        self._write_meminfo(state)
        for t in self.heartbeat.observe(time.monotonic(), not state.exhausted):
            hbd = next(p for p in self.memory.agents if p.comm == "vmnixhbd")
            top = state.top(1)[0]
            # KB 308590: the first alert names vmnixhbd (t=29), the second the process the COS was running (t=30).
            comm, pid = (hbd.comm, hbd.pid) if t < HEARTBEAT_TIMEOUT_MIN else (top.comm, top.pid)
            self.vmk(lines.lost_heartbeat(comm, pid, t, HEARTBEAT_TIMEOUT_MIN), warning=True)
        if self.heartbeat.lost:
            self.purple_screen(state)

    def purple_screen(self, state: MemState) -> None:
        self.vmk(lines.COS_ERROR, warning=True)
        self.vmk(lines.BLUESCREEN, warning=True)
        self.vmk(lines.COREDUMP_START)
        self.vmk(lines.DUMP_SLOT)
        volumes = self.cfg.get("iscsi_datastores") or []
        if volumes:
            ds = volumes[0]
            self.vmk(lines.dump_cos_core(ds["volume_uuid"], self.name), cpu=7, world=1047)
            # "The cos-core file is written to a datastore ... /vmfs/volumes/UUID/cos-core-hostname" (KB 308590)
            Path(ds["mount_point"], f"cos-core-{self.name}").write_bytes(b"")
        self._dump_pid = state.top(1)[0].pid
        self._dump_log = (self.logs.dir / "vmkernel").read_text(errors="replace")[-65536:]
        with self._lock:
            self.up = False
            self.crashes += 1
            for vm in self.vms:
                vm["power"] = "off"
        self._ssh(allow=False)
        self._kill_cos()
        if self.stop.wait(self.knobs.reboot_s):
            return
        self.boot(first=False)

    def _kill_cos(self) -> None:
        """The COS died with the host: every process of the node but this one and sshd is killed. sshd's sessions
        are spared on purpose: the node shares this machine's home folders, and a login shell killed in the middle
        of its startup (e.g. `pyenv rehash` holding ~/.pyenv's lock) would stall every later SSH login on the
        machine. With port 22 dropped (`_ssh`) they are frozen like a dead host's, and the reboot ends them."""
        sshd_pid = self.node_dir / "run" / "sshd.pid"
        keep = {os.getpid()}
        if sshd_pid.exists():
            keep.add(int(sshd_pid.read_text().strip() or 0))
        keep |= _descendants(keep)
        for pid in netns_pids(keep):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue

    def _ssh(self, allow: bool) -> None:
        """While the host is down nothing answers on its address: SSH packets are dropped in the node's namespace."""
        rule = ["INPUT", "-p", "tcp", "--dport", "22", "-m", "comment", "--comment", SSH_DOWN_TAG, "-j", "DROP"]
        while subprocess.run(["iptables", "-w", "-D", *rule], capture_output=True, check=False).returncode == 0:
            pass
        if not allow:
            subprocess.run(["iptables", "-w", "-I", *rule], capture_output=True, check=True)

    def _write_meminfo(self, s: MemState) -> None:
        text = lines.meminfo(s.mem_total_kb, s.mem_free_kb, s.swap_total_kb, s.swap_free_kb)
        self.meminfo_path.parent.mkdir(parents=True, exist_ok=True)
        with self.meminfo_path.open("w", encoding="ascii") as fh:  # same inode: it is bind-mounted on /proc/meminfo
            fh.write(text)

    # -- vmksummary ------------------------------------------------------------------------------------------------
    def summary(self) -> None:
        s = self.last or self.memory.sample()
        with self._lock:
            running = sum(1 for vm in self.vms if vm["power"] == "on")
        up = self.uptime()
        sample = lines.HbSample(
            epoch=int(time.time()),
            uptime_s=up,
            # KB 308590: the second figure (the VMkernel's uptime) runs ~12.3 s behind the first
            vmk_uptime_s=up - min(12.28, up / 10),
            vms=running,
            unknown_a=153875,  # KB 308590's value; meaning undocumented
            swap_bytes=s.swap_used_kb * 1024,
            top=tuple((p.comm, p.vsz_kb) for p in s.top(3)),
        )
        self.logs.write("vmksummary", lines.vmksummary_hb(self.name, sample))

    # -- loops and control -----------------------------------------------------------------------------------------
    def run(self) -> None:
        threading.Thread(target=self.control.run, name="control", daemon=True).start()
        self.boot(first=True)
        next_summary = time.monotonic() + self.knobs.vmksummary_s
        while not self.stop.wait(self.knobs.poll_s):
            self.tick()
            if time.monotonic() >= next_summary and self.up:
                self.summary()
                next_summary = time.monotonic() + self.knobs.vmksummary_s

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            vms = [
                {
                    "vmid": vm["vmid"],
                    "name": vm["name"],
                    "datastore": vm["datastore"],
                    "vmx": f"/vmfs/volumes/{vm['datastore']}/{vm['vmx_file']}",
                    "powerState": "poweredOn" if vm["power"] == "on" else "poweredOff",
                }
                for vm in self.vms
            ]
            up, crashes = self.up, self.crashes
        s = self.last
        mem = {"memTotalKB": s.mem_total_kb, "swapUsedKB": s.swap_used_kb, "demandKB": s.demand_kb} if s else {}
        return {
            "host": self.name,
            "version": self.cfg["version_profile"],
            "up": up,
            "crashes": crashes,
            "vms": vms,
            "datastores": [],
            "nfs": [
                {"name": d["name"], "share": d["export"], "server": d["server_ip"]}
                for d in self.cfg.get("nfs_datastores") or []
            ],
            "vmfs": [
                {"name": d["name"], "naa_id": d["naa_id"], "volume_uuid": d["volume_uuid"]}
                for d in self.cfg.get("iscsi_datastores") or []
            ],
            "cos": mem,
            "events": [],
        }

    def handle(self, req: dict[str, Any]) -> Any:
        cmd = req.get("cmd")
        if cmd == "snapshot":
            return self.snapshot()
        if cmd == "vm.power":
            with self._lock:
                for vm in self.vms:
                    if str(vm["vmid"]) == str(req["vmid"]):
                        if req["state"] == "on":
                            self._power_on(vm)
                        else:
                            vm["power"] = "off"
                        return None
            raise ControlError(f"no VM with vmid {req['vmid']}")
        raise ControlError(f"unknown command {cmd!r}")


def _descendants(roots: set[int]) -> set[int]:
    """Every process below `roots` (from /proc's parent ids)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultlab.sim.esx4.host", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    args = parser.parse_args(argv)
    cfg = json.loads(args.config.read_text(encoding="utf-8"))
    pid_file = Path(cfg["node_dir"]) / "esxi-host.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    host = Esx4Host(cfg)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        host.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        host.run()
    finally:
        host._ssh(allow=True)
        pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
