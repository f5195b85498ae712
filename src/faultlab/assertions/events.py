"""The one table of catalog event names: family, role (trouble, recovery, info), plain label and colours."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "EVENTS",
    "FAMILIES",
    "OTHER_FAMILY",
    "EventInfo",
    "Family",
    "Role",
    "info",
    "names",
]


class Role(enum.StrEnum):
    """What an event says about the system: something went wrong, came back, or is just worth knowing."""

    TROUBLE = "trouble"
    RECOVERY = "recovery"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Family:
    """A group of events drawn in one colour: `colour` for SVG/HTML, `style` for the rich console."""

    key: str
    label: str  # legend text
    colour: str
    style: str = ""


APD = Family("apd", "APD", "#e8590c", "bold yellow")
PDL = Family("pdl", "PDL / host", "#c92a2a", "bold red")
PATHS = Family("paths", "NFS / paths / iSCSI", "#1971c2")
VMFS = Family("vmfs", "VMFS heartbeat", "#0b7285", "cyan")
HOSTD = Family("hostd", "hostd", "#5c677d", "magenta")
GUEST = Family("guest", "guest", "#862e9c")
HOST = Family("host", "PDL / host", "#c92a2a")
OTHER_FAMILY = Family("other", "other", "#495057")
FAMILIES: tuple[Family, ...] = (APD, PDL, PATHS, VMFS, HOSTD, GUEST, HOST, OTHER_FAMILY)


@dataclass(frozen=True, slots=True)
class EventInfo:
    """One catalog event name and how every reader (triage, diagnoses, reports) shows and weighs it."""

    name: str
    family: Family
    role: Role
    label: str  # plain words, read before the event's subject: "APD start on naa.6..."
    stalls_io: bool = False  # storage trouble that can starve a guest's I/O (KB 392634 sections 1-3)
    ends: str | None = None  # for a recovery: the trouble event it ends
    style: str | None = None  # console style when it differs from the family's

    @property
    def colour(self) -> str:
        return self.family.colour

    @property
    def console_style(self) -> str:
        return self.family.style if self.style is None else self.style


T, R, I = Role.TROUBLE, Role.RECOVERY, Role.INFO  # noqa: E741 - table shorthand

# The stable names of DESIGN.md's signature catalog, in its order. Add more, keep these.
EVENTS: tuple[EventInfo, ...] = (
    EventInfo("apd.start", APD, T, "APD start on", stalls_io=True),
    EventInfo("apd.timeout", APD, T, "APD timeout on", stalls_io=True),
    EventInfo("apd.exit", APD, R, "APD exit on", ends="apd.start"),
    EventInfo("pdl", PDL, T, "permanent device loss of", stalls_io=True),
    EventInfo("path.dead", PATHS, T, "path dead:"),
    EventInfo("path.on", PATHS, R, "path active again:", ends="path.dead"),
    EventInfo("redundancy.lost", PATHS, T, "path redundancy lost to"),
    EventInfo("redundancy.restored", PATHS, R, "path redundancy restored to", ends="redundancy.lost"),
    EventInfo("connectivity.lost", PATHS, T, "connectivity lost to", stalls_io=True),
    EventInfo("connectivity.restored", PATHS, R, "connectivity restored to", ends="connectivity.lost"),
    EventInfo("nfs.server.lost", PATHS, T, "NFS server lost:", stalls_io=True, style="yellow"),
    EventInfo("nfs.server.restored", PATHS, R, "NFS server restored:", ends="nfs.server.lost", style="green"),
    EventInfo("vmfs.heartbeat.timeout", VMFS, T, "VMFS heartbeat timed out on", stalls_io=True),
    # "Reclaimed heartbeat [Timeout]": the recovery also says a timeout happened first
    EventInfo(
        "vmfs.heartbeat.reclaimed",
        VMFS,
        R,
        "VMFS heartbeat reclaimed after a timeout on",
        stalls_io=True,
        ends="vmfs.heartbeat.timeout",
    ),
    EventInfo("iscsi.connection.offline", PATHS, T, "iSCSI connection offline on"),
    EventInfo("iscsi.connection.online", PATHS, R, "iSCSI connection online on", ends="iscsi.connection.offline"),
    EventInfo("hostd.slow_io", HOSTD, T, "slow I/O on", stalls_io=True),
    EventInfo("hostd.io_error", HOSTD, T, "I/O error on", stalls_io=True),
    EventInfo("vsan.liveness.lost", OTHER_FAMILY, T, "vSAN object lost liveness:", stalls_io=True),
    EventInfo("guest.bsod", GUEST, T, "bugcheck in", style="bold white on red"),
    EventInfo("guest.tools_heartbeat.lost", GUEST, T, "Tools heartbeat lost in"),
    EventInfo("guest.reset", GUEST, I, "guest reset:"),
    EventInfo("host.heartbeat.lost", HOST, T, "host heartbeat lost", style="bold red"),
    EventInfo("host.psod", HOST, T, "purple screen", style="bold white on red"),
    EventInfo("host.boot", HOST, I, "host booted"),
    EventInfo("host.shutdown", HOST, I, "host shut down"),
    EventInfo("host.memory.sample", HOST, I, "memory sample"),
)
_BY_NAME = {e.name: e for e in EVENTS}


def info(name: str) -> EventInfo | None:
    """The table row of an event name, None for a name the catalog does not define."""
    return _BY_NAME.get(name)


def names(*, role: Role | None = None, stalls_io: bool | None = None) -> frozenset[str]:
    """Event names with the given role and/or stall flag."""
    return frozenset(
        e.name for e in EVENTS if (role is None or e.role is role) and (stalls_io is None or e.stalls_io is stalls_io)
    )
