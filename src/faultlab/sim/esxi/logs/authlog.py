"""auth.log and shell.log lines: 7.0 `ts sshd[pid]: ` / `ts shell[pid]: `, 8.0 with `In(38)` / `In(14)` tags."""

from __future__ import annotations

from datetime import datetime

from faultlab.sim.esxi.logs.clock import esx_timestamp
from faultlab.sim.esxi.logs.kinds import LineKind
from faultlab.sim.esxi.logs.rotate import RotatingLog

# 8.0 severity tags (kinds_ssh: sshd logs at facility auth, info = 38; shell at user, info = 14)
TAG_80 = {"auth": "In(38)", "shell": "In(14)"}


def syslog_line(profile: str, ts: str, pid: int, kind: LineKind, /, **fields: object) -> str:
    if kind.log not in TAG_80:
        raise TypeError(f"{kind.name} is a {kind.log} line, not an auth or shell one")
    head = f"{kind.extra['prog']}[{pid}]: "
    body = kind.render(**fields)
    return f"{ts} {head}{body}" if profile == "7.0" else f"{ts} {TAG_80[kind.log]} {head}{body}"


class AuthShellLog:
    """The host's auth.log (sshd) and shell.log (the ESXi Shell), written at the times they are given."""

    def __init__(self, profile: str, auth: RotatingLog, shell: RotatingLog) -> None:
        self.profile = profile
        self._sinks = {"auth": auth, "shell": shell}

    def log(self, when: datetime, pid: int, entries: list[tuple[LineKind, dict[str, object]]]) -> None:
        ts = esx_timestamp(when)
        for kind, fields in entries:
            self._sinks[kind.log].write_lines([syslog_line(self.profile, ts, pid, kind, **fields)])
