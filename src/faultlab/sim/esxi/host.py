"""Entry point of one simulated ESXi host: `python -m faultlab.sim.esxi.host --config <host.json>`."""

# Runs in the foreground in the node's namespaces; SIGTERM/SIGINT = clean stop ("Host is powering off").
# Besides faultlab.sim.config's keys it reads two optional ones: a VM's `guest` object (GuestSettings: disk
# TimeOutValue, bugcheck code/parameters, restart timings) and the host's `sim` object (SimKnobs: lab-only
# timings that are not ESXi advanced options).

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from faultlab.sim.config import EsxiHostConfig, load_host_config
from faultlab.sim.esxi.commands import formats
from faultlab.sim.esxi.commands.control import ControlError, ControlServer
from faultlab.sim.esxi.guest.vm import Vmx
from faultlab.sim.esxi.hostagent import IoTracker, VmxPoller
from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.release import RELEASES
from faultlab.sim.esxi.settings import SettingError, Settings, format_option, timing_profile
from faultlab.sim.esxi.sshsessions import SshSessions, session_spool
from faultlab.sim.esxi.storage.dsio import VmVolume
from faultlab.sim.esxi.storage.storage_iscsi import IscsiVolume
from faultlab.sim.esxi.storage.storage_nfs import NfsVolume
from faultlab.sim.esxi.timing import SimKnobs
from faultlab.sim.esxi.vcls import vcls_entries


class SimulatedEsxiHost:
    """Everything one host runs; threads are daemons stopped through `stop`."""

    def __init__(self, cfg: EsxiHostConfig) -> None:
        self.cfg = cfg
        self.profile = cfg["version_profile"]
        self.timing = timing_profile(cfg.get("timing", "fast"))
        self.knobs = SimKnobs.for_timing(self.timing, dict(cfg).get("sim") or {})  # type: ignore[arg-type]
        self.stop = threading.Event()
        self.settings = Settings(cfg.get("settings") or {}, self.timing)
        self.logs = HostLogs(Path(cfg["log_dir"]), self.profile, cfg["host_name"], self.knobs.log_rotation_scale)
        self.nfs = {ds["name"]: NfsVolume(ds, self.settings, self.logs, self.stop) for ds in cfg["nfs_datastores"]}
        self.iscsi = {
            ds["name"]: IscsiVolume(
                ds,
                self.settings,
                self.logs,
                self.stop,
                cfg["host_name"],
                self.knobs.vmfs_hb_interval_s,
                self.knobs.vmfs_hb_timeout_s,
                self.knobs.iscsi_recovery_s,
            )
            for ds in cfg["iscsi_datastores"]
        }
        self.vms: list[Vmx] = []
        for index, vm_cfg in enumerate(cfg["vms"], start=1):
            volume: VmVolume | None = self.nfs.get(vm_cfg["datastore"]) or self.iscsi.get(vm_cfg["datastore"])
            if volume is None:
                print(
                    f"esxi-host: VM {vm_cfg['name']}: datastore {vm_cfg['datastore']} is not mounted on this host",
                    file=sys.stderr,
                )
                continue
            vm = Vmx(index, vm_cfg, volume, self.logs, self.profile, self.timing)
            self.vms.append(vm)
            if isinstance(volume, NfsVolume):
                volume.add_open_files(vm.lock_files())
        self.vcls = vcls_entries(int(cfg.get("vcls_vms", 0)), cfg["host_name"], cfg["lab_id"])
        self.tracker = IoTracker(self.logs, self.knobs.iotracker_threshold_s, self.stop)
        self.control = ControlServer(Path(cfg["control_socket"]), self.handle, self.stop)
        fingerprint = cfg.get("ssh_key_fingerprint") or ""
        self.ssh = SshSessions(session_spool(Path(cfg["control_socket"])), self.logs, fingerprint, self.stop)
        self._threads: list[threading.Thread] = []

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def start(self) -> None:
        logs = self.logs
        self._spawn(self.control.run, "control")  # answer esxcli at once, even while storage is unreachable
        logs.vmksummary.bootstop("has booted")
        release = RELEASES[self.profile]
        logs.hostd.log(kinds.HOSTD_SECTION, pid=logs.hostd.tids[0] - 31, version=release.version, build=release.build)
        for vol in self.nfs.values():
            vol.log_mount()
            vol.start()
        for ivol in self.iscsi.values():
            ivol.log_mount()
            ivol.start()
        for vm in self.vms:
            self._spawn(lambda v=vm: self._power_on(v), f"power-on-{vm.name}")
        self._spawn(self.tracker.run, "hostd-iotracker")
        self._spawn(self._vmksummary_loop, "vmksummary")
        self._spawn(self.ssh.run, "ssh-sessions")

    def _power_on(self, vm: Vmx) -> None:
        """Prepare the VM's files (waits for its datastore), then start its VMX and hostd's poller."""
        while not self.stop.is_set():
            try:
                vm.prepare()
                break
            except OSError as exc:  # datastore in APD timeout: the VM cannot power on yet
                print(f"esxi-host: VM {vm.name}: cannot reach its files yet: {exc}", file=sys.stderr)
                self.stop.wait(1.0)
        if self.stop.is_set():
            return
        vm.start()
        poller = VmxPoller(vm, self.tracker, self.logs, self.knobs.vmx_poll_s)
        poller.run()

    def vmksummary_period(self) -> float:
        """vmksummary's heartbeat is hourly (KB 317245); a lab-scaled profile shortens it in the ratio of its
        Misc.APDTimeout to ESXi's 140 s (the fast profile's clock), never below 30 s."""
        if self.knobs.vmksummary_heartbeat_s > 0:
            return self.knobs.vmksummary_heartbeat_s
        scale = min(1.0, self.settings.integer("Misc.APDTimeout") / 140)
        return max(30.0, 3600.0 * scale)

    def _vmksummary_loop(self) -> None:
        rng = random.Random()
        # hostd and vpxa-like daemons next to the VMX worlds, top three by memory as the real line lists them
        daemons = [(2099871, "hostd", 180000 + rng.randrange(20000)), (2100431, "vpxa", 62000 + rng.randrange(9000))]
        while not self.stop.wait(self.vmksummary_period()):
            running = [vm for vm in self.vms if vm.state.power == "poweredOn"]
            procs = [(vm.world_id, "vmx", 4194304 + 40960 + rng.randrange(60000)) for vm in running] + daemons
            procs.sort(key=lambda p: -p[2])
            self.logs.vmksummary.heartbeat(procs[:3], len(running))

    def shutdown(self) -> None:
        self.logs.vmksummary.bootstop("is powering off")
        self.stop.set()
        for thread in self._threads:
            thread.join(2)
        for vol in self.nfs.values():
            vol.join(2)
        for ivol in self.iscsi.values():
            ivol.join(2)

    # -- control socket ------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {
            "host": self.cfg["host_name"],
            "version": self.profile,
            "timing": self.timing,
            "pid": os.getpid(),
            "datastores": [self._with_space(v.snapshot(), v.cfg) for v in self.nfs.values()]
            + [self._with_space(v.snapshot(), v.cfg) for v in self.iscsi.values()],
            "vms": [vm.snapshot() for vm in self.vms],
            "vcls": [dict(v) for v in self.vcls],  # listed by getallvms only: no guest, no logs
            "iotrackerReports": self.tracker.reports,
            "settings": self.settings.as_dict(),
            "events": self.logs.events(),
        }

    @staticmethod
    def _with_space(snap: dict[str, Any], ds: Any) -> dict[str, Any]:
        """Size and free bytes as the host sees them: the NFS export's file system (statvfs of its view under
        /vmfs/volumes), the LUN less the files on its VMFS datastore."""
        out = dict(snap)
        try:
            if snap["type"] == "NFS":
                st = os.statvfs(ds["mount_point"])
                out["capacityBytes"], out["freeBytes"] = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
            else:
                size = int(snap.get("capacityMB") or 0) << 20
                root = Path(ds.get("files_dir") or ds["mount_point"])
                used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
                out["capacityBytes"], out["freeBytes"] = size, max(size - used, 0)
        except OSError as exc:  # the view is not there (a test host outside a node): say so on stderr
            print(f"esxi-host: cannot size datastore {snap['name']}: {exc}", file=sys.stderr)
        return out

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Per periodic state machine ("<datastore or VM>/<machine>"): scheduled period, rounds, lateness;
        plus the host's CPU seconds so far and what happened (APD starts, guest crashes) to spot spurious ones.
        `reset`: the lateness records start again after this answer (a measuring window)."""
        machines: dict[str, dict[str, float | int]] = {}
        for vol in self.nfs.values():
            machines.update({f"{vol.name}/{k}": v for k, v in vol.stats(reset).items()})
        for ivol in self.iscsi.values():
            machines.update({f"{ivol.name}/{k}": v for k, v in ivol.stats(reset).items()})
        for vm in self.vms:
            machines[f"{vm.name}/guest.io"] = vm.io_stats.as_dict(reset)
            machines[f"{vm.name}/guest.disk_io"] = vm.disk_stats.as_dict(reset)  # lateness = I/O duration
        times = os.times()
        names = [e.get("eventTypeId") for e in self.logs.events()]
        return {
            "host": self.cfg["host_name"],
            "pid": os.getpid(),
            "cpu_s": round(times.user + times.system, 3),
            "machines": machines,
            "apd_starts": names.count("esx.problem.storage.apd.start"),
            "guest_crashes": sum(vm.state.crashes for vm in self.vms),
        }

    def handle(self, req: dict[str, Any]) -> Any:
        cmd = req.get("cmd")
        try:
            if cmd == "snapshot":
                return self.snapshot()
            if cmd == "stats":
                return self.stats(bool(req.get("reset")))
            if cmd == "events":
                return self.logs.events(int(req.get("since", 0)))
            if cmd == "settings.list":
                paths = [req["option"]] if req.get("option") else self.settings.paths()
                return (
                    "".join(
                        format_option(self.settings.spec(p), self.settings.get(p), self.timing) + "\n" for p in paths
                    ).rstrip("\n")
                    + "\n"
                )
            if cmd == "settings.fields":  # esxcli renders them in the formatter asked for
                paths = [req["option"]] if req.get("option") else self.settings.paths()
                return [[[k, v, _kind(k)] for k, v in self.settings.fields(p)] for p in paths]
            if cmd == "settings.get":
                return self.settings.get(req["option"])
            if cmd == "settings.set":
                self.settings.set(req["option"], req["value"])
                return None
            if cmd == "path.set":  # by Runtime Name (esxcli resolves a UID to it)
                for ivol in self.iscsi.values():
                    if ivol.vmhba_path == req["runtime"]:
                        ivol.set_path_state(req["state"])
                        return None
                raise ControlError(formats.path_not_found(req["runtime"]))
            if cmd in ("verify", "guest.reboot"):
                for vm in self.vms:
                    if vm.name == req["vm"]:
                        return vm.verify() if cmd == "verify" else vm.reboot(bool(req.get("wait", True)))
                raise ControlError(f"no VM named {req['vm']}")
        except SettingError as exc:
            raise ControlError(str(exc)) from exc
        raise ControlError(f"unknown command {cmd!r}")


INTEGER_FIELDS = ("Int Value", "Default Int Value", "Min Value", "Max Value")


def _kind(field: str) -> str:
    """The esxcli type of an advanced option's field (csv/xml/keyvalue)."""
    if field in INTEGER_FIELDS:
        return "integer"
    return "boolean" if field == "Host Specific" else "string"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultlab.sim.esxi.host", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--pid-file", type=Path, help="default: <node_dir>/esxi-host.pid")
    args = parser.parse_args(argv)
    cfg = load_host_config(args.config)
    pid_file = args.pid_file or Path(cfg["node_dir"]) / "esxi-host.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")
    host = SimulatedEsxiHost(cfg)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        host.start()
        while not done.wait(0.5):
            pass
    finally:
        host.shutdown()
        pid_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
