"""Forward the simulated ESXi hosts' state to the simulated vCenter, as vpxa does for a real host.

`diff()` is pure: from a host's control-socket snapshot (faultlab.sim.esxi.host `snapshot`) and what was
forwarded before, it gives the pushes that are actually changes (vCenter reports changes, not repeats) and
the host events not yet forwarded. `HostBridge` runs it for every host in one thread, reading the host
snapshots (a local unix-socket read, every `interval` seconds) and pushing to the vCenter control socket.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.vcenter import events
from faultlab.sim.vcenter.control import ControlClient, DatastoreState, HostEvent, HostState, VmState

log = logging.getLogger("faultlab.sim.vcenter")

POWER = {"poweredOn", "poweredOff", "suspended"}
HEARTBEAT = {"green", "yellow", "red", "gray"}
TOOLS = {"guestToolsRunning", "guestToolsNotRunning"}
REASONS = {"AllPathsDown_Start", "AllPathsDown_Timeout", "PermanentDeviceLoss"}
# VmState field <- snapshot value (in `current` order) and the values vCenter knows for it.
VM_FIELDS = (("power_state", POWER), ("guest_heartbeat_status", HEARTBEAT), ("tools_running_status", TOOLS))
Snapshot = Callable[[str], Mapping[str, Any]]


@dataclass
class Forwarded:
    """What has been pushed for one host: datastore and VM states, and the last host event key."""

    datastores: dict[str, tuple[bool, str]] = field(default_factory=dict)
    vms: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    last_event_key: int = 0
    up: bool | None = None  # whether the host answered vCenter's heartbeats at the last forwarded round


@dataclass(frozen=True, slots=True)
class Known:
    """The names the vCenter holds; anything else in a snapshot is skipped (a push naming it is refused)."""

    datastores: frozenset[str]
    vms: frozenset[str]
    datacenter: str | None = None  # the vCenter's datacenter, named in the crash event it shows


def _severity(event_type_id: str) -> Literal["info", "warning", "error"]:
    if event_type_id == "esx.problem.scsi.device.state.permanentloss":
        return "error"
    return "info" if event_type_id.startswith("esx.clear.") else "warning"


def _event(host: str, raw: Mapping[str, Any], known: Known) -> HostEvent | None:
    type_id = str(raw.get("eventTypeId", ""))
    subject = raw.get("subject")
    message = str(raw.get("message", ""))
    if type_id == "VmGuestOSCrashedEvent" and subject in known.vms:
        if known.datacenter:
            return events.guest_os_crashed(host, str(subject), known.datacenter)
        return HostEvent(type="VmGuestOSCrashedEvent", message=message, host=host, vm=str(subject))
    if type_id.startswith(("esx.", "vob.")):
        return HostEvent(
            type_id,
            message,
            host=host,
            datastore=str(subject) if subject in known.datastores else None,
            vm=str(subject) if subject in known.vms else None,
            severity=_severity(type_id),
        )
    return None  # other vSphere events (VmPoweredOnEvent...) the launcher does not post


def diff(
    host: str, snapshot: Mapping[str, Any], before: Forwarded, known: Known
) -> tuple[list[DatastoreState], list[VmState], list[HostEvent], Forwarded]:
    """The pushes that bring vCenter from `before` to `snapshot` for `host`, and the new forwarded record."""
    after = Forwarded(dict(before.datastores), dict(before.vms), before.last_event_key, before.up)
    if snapshot.get("up") is False:  # vCenter hears nothing from a host that is down: no state, no events
        return [], [], [], after
    datastores: list[DatastoreState] = []
    for ds in snapshot.get("datastores", []):
        name = ds.get("name")
        if name not in known.datastores:
            continue
        reason = ds.get("inaccessibleReason") or ""
        state = (bool(ds.get("accessible")), reason if reason in REASONS else "")
        if after.datastores.get(name) != state:
            after.datastores[name] = state
            reason_arg: Any = state[1]
            datastores.append(DatastoreState(name, accessible=state[0], host=host, inaccessible_reason=reason_arg))
    vms: list[VmState] = []
    for vm in snapshot.get("vms", []):
        name = vm.get("name")
        if name not in known.vms:
            continue
        power, beat, tools = (vm.get("powerState"), vm.get("guestHeartbeatStatus"), vm.get("toolsRunningStatus"))
        current = (str(power), str(beat), str(tools))
        old = after.vms.get(name)
        if old == current:
            continue
        after.vms[name] = current
        fields: dict[str, Any] = {}
        for i, (prop, allowed) in enumerate(VM_FIELDS):
            if (old is None or old[i] != current[i]) and current[i] in allowed:
                fields[prop] = current[i]
        if fields:
            vms.append(VmState(name, **fields))
    events: list[HostEvent] = []
    for raw in sorted(snapshot.get("events", []), key=lambda e: int(e.get("key", 0))):
        key = int(raw.get("key", 0))
        if key <= after.last_event_key:
            continue
        after.last_event_key = key
        if (ev := _event(host, raw, known)) is not None:
            events.append(ev)
    return datastores, vms, events, after


def connection(
    host: str, snapshot: Mapping[str, Any], before: Forwarded, known: Known
) -> tuple[list[HostState], list[VmState], list[HostEvent], Forwarded]:
    """A host whose snapshot says `up: false` (an ESX 4 host in its purple screen and reboot) stops answering
    vCenter: runtime.connectionState notResponding, a HostConnectionLostEvent, its VMs' connectionState
    disconnected (vCenter cannot know their state); once `up` again: connected, a HostConnectedEvent, the VMs
    connected (their power state then comes from `diff`). A snapshot without `up` changes nothing here."""
    up = snapshot.get("up")
    after = Forwarded(dict(before.datastores), dict(before.vms), before.last_event_key, before.up)
    if not isinstance(up, bool) or up == before.up:
        after.up = up if isinstance(up, bool) else before.up
        return [], [], [], after
    after.up = up
    vm_names = [str(vm.get("name")) for vm in snapshot.get("vms", []) if vm.get("name") in known.vms]
    if not up:
        # forget the forwarded VM states: after the host returns, `diff` pushes them all again
        after.vms = {name: state for name, state in after.vms.items() if name not in vm_names}
        return (
            [HostState(host, connection_state="notResponding")],
            [VmState(name, connection_state="disconnected") for name in vm_names],
            [events.host_connection_lost(host, known.datacenter)],
            after,
        )
    if before.up is None:  # the first round: connected already, nothing happened
        return [], [], [], after
    return (
        [HostState(host, connection_state="connected")],
        [VmState(name, connection_state="connected") for name in vm_names],
        [events.host_connected(host, known.datacenter)],
        after,
    )


class HostBridge:
    """One thread forwarding every host's snapshot to the vCenter control socket every `interval` seconds.

    `snapshot(host)` returns that host's snapshot, e.g.
    ``lambda h: faultlab.sim.esxi.commands.control.call(<state>/<h>/run/esxi.sock, "snapshot")``. A host that cannot
    be read is skipped for that round (its process may be restarting); errors are logged, not raised.
    """

    def __init__(self, control: ControlClient, hosts: list[str], snapshot: Snapshot, interval: float = 0.2) -> None:
        self.control = control
        self.hosts = hosts
        self.snapshot = snapshot
        self.interval = interval
        self.forwarded: dict[str, Forwarded] = {h: Forwarded() for h in hosts}
        self.pushes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        state = control.state()
        self.known = Known(
            frozenset(state.get("datastores", {})), frozenset(state.get("vms", {})), _datacenter(control.socket_path)
        )

    def step(self) -> int:
        """One round over all hosts; returns how many pushes it made."""
        made = 0
        for host in self.hosts:
            try:
                snap = self.snapshot(host)
            except Exception as exc:  # the host is the simulator's, not ours: log and retry next round
                log.debug("vCenter bridge: cannot read host %s: %s", host, exc)
                continue
            hosts, conn_vms, conn_events, seen = connection(host, snap, self.forwarded[host], self.known)
            datastores, vms, events, after = diff(host, snap, seen, self.known)
            vms, events = conn_vms + vms, conn_events + events
            if hosts or datastores or vms or events:
                try:
                    self.control.push(datastores=datastores, vms=vms, hosts=hosts, events=events)
                except EmbeddedLabError as exc:
                    log.warning("vCenter bridge: push for host %s refused: %s", host, exc)
                    continue
                made += 1
            self.forwarded[host] = after
        self.pushes += made
        return made

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()

    def start(self) -> HostBridge:
        self.step()  # the state at start, before the first interval
        self._thread = threading.Thread(target=self._run, name="vcenter-bridge", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._thread.join(timeout=5)


# -- as a process: `lab up` returns, the bridge keeps forwarding -------------------------------------------------


def _datacenter(control_socket: Path) -> str | None:
    """The vCenter's datacenter from the launcher's ready.json next to its control socket (process.py's layout);
    None when it is not there (the host's own text is forwarded then)."""
    try:
        ready = json.loads((Path(control_socket).parent / "ready.json").read_text())
    except (OSError, ValueError):
        return None
    name = ready.get("datacenter") if isinstance(ready, dict) else None
    return str(name) if name else None


def _esxi_snapshot(sockets: Mapping[str, str]) -> Snapshot:
    from faultlab.sim.esxi.commands.control import call  # the simulated host's own client of its control socket

    def snapshot(host: str) -> Mapping[str, Any]:
        result = call(sockets[host], "snapshot", timeout_s=5.0)
        if not isinstance(result, Mapping):
            raise EmbeddedLabError(f"host {host}: snapshot is not an object: {result!r}")
        return result

    return snapshot


def main(argv: list[str] | None = None) -> int:
    """python -m faultlab.sim.vcenter.bridge --vcenter SOCKET --host esx01=SOCKET ... [--ready FILE]"""
    parser = argparse.ArgumentParser(prog="faultlab.sim.vcenter.bridge", description=__doc__)
    parser.add_argument("--vcenter", required=True, help="the simulated vCenter's control socket")
    parser.add_argument("--host", action="append", default=[], help="NAME=SOCKET: a host's control socket")
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--ready", help="file written once the first round is forwarded")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    sockets = dict(h.split("=", 1) for h in args.host)
    hb = HostBridge(ControlClient(Path(args.vcenter)), list(sockets), _esxi_snapshot(sockets), args.interval)
    signal.signal(signal.SIGTERM, lambda *_: hb._stop.set())
    signal.signal(signal.SIGINT, lambda *_: hb._stop.set())
    hb.step()
    if args.ready:
        Path(args.ready).write_text(str(os.getpid()))
    log.info("forwarding %d hosts to %s every %.2fs", len(sockets), args.vcenter, args.interval)
    hb._run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
