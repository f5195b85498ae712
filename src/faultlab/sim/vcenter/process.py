"""Start and stop the simulated vCenter process (optionally in a network namespace) and describe its endpoint."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.kernel.waits import wait_until
from faultlab.sim.vcenter.build import ensure_binary
from faultlab.sim.vcenter.control import ControlClient, DatastoreState, HostEvent, HostState, VmState
from faultlab.sim.vcenter.spec import VcenterSpec

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
PASSWORD_ENV = "FAULTLAB_VC_PASSWORD"


@dataclass(frozen=True, slots=True)
class VcenterHandle:
    """A running simulated vCenter: its SOAP endpoint, certificate, control socket and process id."""

    pid: int
    address: str
    port: int
    user: str
    password_file: Path
    cert_file: Path
    thumbprint_sha1: str
    thumbprint_sha256: str
    control_socket: Path
    state_dir: Path
    log_file: Path

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{host}:{self.port}/sdk"

    @property
    def control(self) -> ControlClient:
        return ControlClient(self.control_socket)

    def push(
        self,
        *,
        datastores: list[DatastoreState] | tuple[DatastoreState, ...] = (),
        vms: list[VmState] | tuple[VmState, ...] = (),
        hosts: list[HostState] | tuple[HostState, ...] = (),
        events: list[HostEvent] | tuple[HostEvent, ...] = (),
    ) -> None:
        """Shortcut for `control.push(...)`."""
        self.control.push(datastores=datastores, vms=vms, hosts=hosts, events=events)

    def inventory_entry(self, password_env: str = PASSWORD_ENV) -> dict[str, Any]:
        """The inventory's `vcenter:` section: TLS verified against the lab's own certificate (its CA file)."""
        return {
            "address": self.address,
            "port": self.port,
            "user": self.user,
            "password": "${" + password_env + "}",
            "tls": {"verify": True, "ca_file": str(self.cert_file), "thumbprint": None},
        }

    def alive(self) -> bool:
        return _alive(self.pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the launcher (by pid), SIGKILL it after `timeout`; idempotent."""
        stop_pid(self.pid, timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone: reap it.
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def stop_pid(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    """Stop one launcher process by its pid: SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_until(lambda: not _alive(pid), timeout, f"simulated vCenter pid {pid} to exit")
    except EmbeddedLabError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not _alive(pid), timeout, f"simulated vCenter pid {pid} to die")


def new_password() -> str:
    return secrets.token_urlsafe(18)


def start(
    state_dir: Path,
    spec: VcenterSpec,
    *,
    netns: str | None = None,
    cache_root: Path | None = None,
    timeout: float = READY_TIMEOUT,
) -> VcenterHandle:
    """Build (or reuse) the launcher, start it on spec.address:spec.port (port 0: a free one), wait until it
    serves and its control socket answers. Files: state_dir/{spec.json,password,cert.pem,key.pem,ready.json,
    control.sock,vcsim.log}. With `netns`, it runs under `ip netns exec <netns>` (needs root)."""
    spec.validate()
    binary = ensure_binary(cache_root).binary
    state_dir.mkdir(parents=True, exist_ok=True)
    control_socket = state_dir / "control.sock"
    ready_file = state_dir / "ready.json"
    ready_file.unlink(missing_ok=True)
    spec_file = state_dir / "spec.json"
    _write_private(spec_file, json.dumps(spec.launcher_json(state_dir, control_socket), indent=2))
    password_file = state_dir / "password"
    _write_private(password_file, spec.password)
    log_file = state_dir / "vcsim.log"
    argv = [str(binary), "-config", str(spec_file)]
    if netns:
        argv = ["ip", "netns", "exec", netns, *argv]  # ip execs the launcher: the pid stays the same
    with log_file.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_until(
            lambda: ready_file.exists() or proc.poll() is not None, timeout, f"simulated vCenter on {spec.address}"
        )
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise EmbeddedLabError(f"simulated vCenter exited with {proc.returncode}: {' | '.join(tail)}")
        ready = json.loads(ready_file.read_text())
        handle = VcenterHandle(
            pid=proc.pid,
            address=spec.address,
            port=int(ready["port"]),
            user=spec.user,
            password_file=password_file,
            cert_file=Path(ready["cert_file"]),
            thumbprint_sha1=ready["thumbprint_sha1"],
            thumbprint_sha256=ready["thumbprint_sha256"],
            control_socket=control_socket,
            state_dir=state_dir,
            log_file=log_file,
        )
        handle.control.state()  # the control channel answers
    except BaseException:
        stop_pid(proc.pid)
        raise
    return handle


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@dataclass(frozen=True, slots=True)
class BridgeHandle:
    """The running host-to-vCenter bridge process (faultlab.sim.vcenter.bridge)."""

    pid: int
    log_file: Path

    def alive(self) -> bool:
        return _alive(self.pid)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        stop_pid(self.pid, timeout)


def start_bridge(
    state_dir: Path,
    handle: VcenterHandle,
    host_sockets: Mapping[str, Path],
    *,
    interval: float = 0.2,
    timeout: float = READY_TIMEOUT,
) -> BridgeHandle:
    """Start the bridge that forwards every host's control-socket snapshot (name -> socket path) to `handle`,
    as its own process (it outlives `lab up`); returns once the first round is forwarded."""
    ready = state_dir / "bridge.ready"
    ready.unlink(missing_ok=True)
    log_file = state_dir / "bridge.log"
    argv = [sys.executable, "-m", "faultlab.sim.vcenter.bridge", "--vcenter", str(handle.control_socket)]
    argv += ["--interval", str(interval), "--ready", str(ready)]
    for name, path in host_sockets.items():
        argv += ["--host", f"{name}={path}"]
    with log_file.open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, timeout, "the vCenter bridge's first round")
        if proc.poll() is not None:
            tail = log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise EmbeddedLabError(f"vCenter bridge exited with {proc.returncode}: {' | '.join(tail)}")
    except BaseException:
        stop_pid(proc.pid)
        raise
    return BridgeHandle(proc.pid, log_file)
