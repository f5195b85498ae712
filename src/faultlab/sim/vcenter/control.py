"""Client of the simulated vCenter's control channel (HTTP + JSON on a unix socket): hosts push state and events.

The socket lives under the lab's state dir, which every node sees at the same path, so a simulated ESXi host
in its own namespaces reaches it as well as the harness-side `lab` code does.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from faultlab.sim.errors import EmbeddedLabError

InaccessibleReason = Literal["AllPathsDown_Start", "AllPathsDown_Timeout", "PermanentDeviceLoss", ""]

# The host events the simulated hosts forward, as ESXi names them (vCenter shows them as EventEx).
HOST_EVENT_IDS: tuple[str, ...] = (
    "esx.problem.storage.apd.start",
    "esx.problem.storage.apd.timeout",
    "esx.clear.storage.apd.exit",
    "esx.problem.vmfs.nfs.server.disconnect",
    "esx.clear.vmfs.nfs.server.restored",
    "esx.problem.scsi.device.state.permanentloss",
)


@dataclass(frozen=True, slots=True)
class DatastoreState:
    """A datastore's accessibility from one host (or from all its hosts when `host` is None)."""

    name: str
    accessible: bool | None = None
    host: str | None = None
    inaccessible_reason: InaccessibleReason | None = None


@dataclass(frozen=True, slots=True)
class VmState:
    """What vCenter shows of a VM; None leaves a property as it is."""

    name: str
    power_state: Literal["poweredOn", "poweredOff", "suspended"] | None = None
    connection_state: Literal["connected", "disconnected", "inaccessible", "invalid", "orphaned"] | None = None
    guest_heartbeat_status: Literal["green", "yellow", "red", "gray"] | None = None
    tools_running_status: Literal["guestToolsRunning", "guestToolsNotRunning"] | None = None


@dataclass(frozen=True, slots=True)
class HostState:
    """A host's connection state as vCenter sees it."""

    name: str
    connection_state: Literal["connected", "notResponding", "disconnected"] | None = None


@dataclass(frozen=True, slots=True)
class HostEvent:
    """An event vCenter records: an EventEx (`event_type_id` e.g. esx.problem.storage.apd.start) or a
    VmGuestOSCrashedEvent (`type`, with `vm`)."""

    event_type_id: str = ""
    message: str = ""
    host: str | None = None
    datastore: str | None = None
    vm: str | None = None
    severity: Literal["info", "warning", "error"] = "warning"
    type: Literal["EventEx", "VmGuestOSCrashedEvent", "HostConnectionLostEvent", "HostConnectedEvent"] = "EventEx"
    arguments: Mapping[str, str] = field(default_factory=dict)


def _clean(obj: Any) -> dict[str, Any]:
    return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in asdict(obj).items() if v is not None}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


class ControlClient:
    """Talks to one simulated vCenter's control socket. Every request is validated whole by the launcher:
    an unknown name or value changes nothing and raises EmbeddedLabError."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        conn = _UnixConnection(self.socket_path, self.timeout)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"null")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise EmbeddedLabError(f"simulated vCenter control socket {self.socket_path}: {exc}") from exc
        finally:
            conn.close()
        if resp.status != 200:
            error = data.get("error") if isinstance(data, dict) else data
            raise EmbeddedLabError(f"simulated vCenter refused {method} {path}: {error}")
        return data

    def push(
        self,
        *,
        datastores: Sequence[DatastoreState] = (),
        vms: Sequence[VmState] = (),
        hosts: Sequence[HostState] = (),
        events: Sequence[HostEvent] = (),
    ) -> None:
        """Apply property changes (watchers see them via WaitForUpdatesEx), then post the events, in one request."""
        self._request(
            "POST",
            "/v1/push",
            {
                "datastores": [_clean(d) for d in datastores],
                "vms": [_clean(v) for v in vms],
                "hosts": [_clean(h) for h in hosts],
                "events": [_clean(e) for e in events],
            },
        )

    def state(self) -> dict[str, Any]:
        """The pushed properties as the simulator holds them: {"datastores": .., "vms": .., "hosts": ..}."""
        data = self._request("GET", "/v1/state")
        if not isinstance(data, dict):
            raise EmbeddedLabError(f"simulated vCenter control socket {self.socket_path}: unexpected state {data!r}")
        return data
