"""The host's record of SSH logins (audit row C12): auth.log, shell.log, vobd and hostd lines for each login.

On a real host sshd and the ESXi Shell write these themselves. Here root's login shell (`esxi-shell`,
faultlab.sim.nodes.esxishell) drops one file per SSH session into the spool directory next to the control
socket: `<pid>.open` holds SSH_CONNECTION, the sshd process (the shell's parent), the tty and the command (empty
for an interactive login); an interactive shell appends its history's last line to `<pid>.hist` at every prompt.
This watcher turns them into the host's lines, per connection (client address and port):

* first session of a connection: auth `Connection from`, `Accepted publickey ...`, vobd
  `[vob.user.ssh.session.opened] SSH session was opened for 'root@<ip>'.` and the hostd event of the same text;
* a command (`ssh host cmd`, what the harness sends): auth `User 'root' running command '<first 200 chars>'`;
* an interactive login: auth `Session opened for 'root' on /dev/char/pty/tN`, shell `Interactive shell session
  started`, then shell `[root]: <command>` for each command typed, and `Session closed ...` when it ends;
* the TCP connection gone: auth `Disconnected from`, vobd `[vob.user.ssh.session.closed]` and its hostd event.

hostd logs the forwarded esx.audit.ssh.session.opened/closed events with the vob's text, as it does for the
storage vobs (HAUC's APD: "Event 2417 : Device or filesystem ... has entered the All Paths Down state."); that
text in a hostd Event line was not seen verbatim [I]. The events stay out of the host's event history that feeds
the simulated vCenter: its bridge (sim/vcenter, not this module's) would file esx.audit.* as warnings.

The real lines and their sources are in logs/kinds_ssh.py. A line appears within one poll (0.25 s) of the event;
its timestamp is the session file's write time where there is one. Not imitated: the sshd lines ESXi writes before
authentication (FIPS mode, sshd_config warnings), failed logins, and `[root]: exit` (the shell's last command
never reaches a prompt).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.hostlogs import HostLogs

POLL_S = 0.25
COMMAND_CHARS = 200  # the real 7.0 auth.log cuts the command there (logs/kinds_ssh.py, DISSECT_70)
# Linux pid -> an ESXi-like world id for the log's [pid]: real sshd/shell ids are ~2.10M on 7.0 (dissect's
# 2102622) and ~1.05M on the 8.0 host of the DFIR sample (1053654 / 1053659).
PID_BASE = {"7.0": 2_100_000, "8.0": 1_050_000}
_HISTORY = re.compile(r"\s*(\d+)\s+(.*)")
_PTY = re.compile(r"/dev/pts/(\d+)")


def session_spool(control_socket: Path) -> Path:
    """Where the login shell drops its session files (made by esxishell.write_shell)."""
    return control_socket.parent / "esxi-sessions"


def tcp_established(ip: str, port: int, local_port: int = 22) -> bool:
    """Whether this network namespace holds an established TCP connection from ip:port to local_port."""
    octets = ip.split(".")
    if len(octets) != 4:
        return False
    want = "".join(f"{int(o):02X}" for o in reversed(octets)) + f":{port:04X}"
    try:
        table = Path("/proc/net/tcp").read_text(encoding="ascii").splitlines()[1:]
    except OSError:
        return False
    for row in table:
        cols = row.split()
        if len(cols) > 3 and cols[2] == want and cols[1].endswith(f":{local_port:04X}") and cols[3] == "01":
            return True
    return False


@dataclass
class _Session:
    pid: int
    conn: tuple[str, int]
    pty: int | None  # interactive: the tty number; None: a command
    seen: int = -1  # last history number logged


@dataclass
class _Connection:
    ip: str
    port: int
    sshd_pid: int
    sessions: set[int] = field(default_factory=set)


class SshSessions:
    """Polls the spool and writes the login lines; `alive`/`established` ask the kernel (tests swap them)."""

    def __init__(
        self,
        spool: Path,
        logs: HostLogs,
        fingerprint: str,
        stop: threading.Event,
        alive: Callable[[int], bool] | None = None,
        established: Callable[[str, int], bool] = tcp_established,
    ) -> None:
        self.spool = spool
        self.logs = logs
        # a config without the lab key's fingerprint (a host started by hand): a stand-in of the real shape
        self.fingerprint = fingerprint or base64.b64encode(hashlib.sha256(str(spool).encode()).digest()).decode()[:43]
        self.stop = stop
        self._alive = alive or (lambda pid: os.path.exists(f"/proc/{pid}"))
        self._established = established
        self._base = PID_BASE.get(logs.profile, PID_BASE["8.0"])
        self.sessions: dict[int, _Session] = {}
        self.connections: dict[tuple[str, int], _Connection] = {}

    def run(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        while not self.stop.wait(POLL_S):
            try:
                self.poll()
            except OSError as exc:  # the spool or a log unwritable for a moment: say so, keep watching
                print(f"esxi-host: SSH session records: {exc}", flush=True)

    def _world(self, pid: int) -> int:
        return self._base + pid % 100_000

    def poll(self) -> None:
        for path in sorted(self.spool.glob("*.open"), key=lambda p: p.stat().st_mtime_ns):
            self._opened(path)
        for session in list(self.sessions.values()):
            self._history(session)
            if not self._alive(session.pid):
                self._closed(session)
        for key, conn in list(self.connections.items()):
            if not conn.sessions and not self._established(conn.ip, conn.port):
                self._disconnected(conn)
                del self.connections[key]

    def _opened(self, path: Path) -> None:
        try:
            when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            text = path.read_text(encoding="utf-8", errors="replace")
            path.unlink()
            pid = int(path.name.split(".")[0])
        except (OSError, ValueError) as exc:  # a half-written or foreign file: say so, keep polling
            print(f"esxi-host: SSH session file {path}: {exc}", flush=True)
            return
        head, sshd, tty, command = ([*text.split("\n", 3), "", "", ""])[:4]
        parts = head.split()
        if len(parts) < 2 or not parts[1].isdigit() or not sshd.isdigit():
            print(f"esxi-host: SSH session file {path}: no SSH_CONNECTION/sshd pid in {text[:80]!r}", flush=True)
            return
        ip, port = parts[0], int(parts[1])
        conn = self.connections.get((ip, port))
        who = f"root@{ip}"
        auth = self.logs.sessions
        if conn is None:
            conn = self.connections[(ip, port)] = _Connection(ip, port, self._world(int(sshd)))
            auth.log(
                when,
                conn.sshd_pid,
                [
                    (kinds.AUTH_CONNECTION, {"ip": ip, "port": port}),
                    (
                        kinds.AUTH_ACCEPTED_KEY,
                        {"user": "root", "ip": ip, "port": port, "fingerprint": self.fingerprint},
                    ),
                ],
            )
            self.logs.vobd.emit([(kinds.VOB_SSH_OPENED, {"who": who})])
            self.logs.hostd.event(f"SSH session was opened for '{who}'.")  # esx.audit.ssh.session.opened
        pty_match = _PTY.fullmatch(tty.strip())
        pty = int(pty_match[1]) if pty_match and not command else None
        session = _Session(pid, (ip, port), pty)
        self.sessions[pid] = session
        conn.sessions.add(pid)
        if pty is None:
            flat = " ".join(command.split("\n"))[:COMMAND_CHARS]  # [U] how ESXi prints a newline in a command
            auth.log(when, conn.sshd_pid, [(kinds.AUTH_RUNNING, {"user": "root", "command": flat})])
            return
        auth.log(when, conn.sshd_pid, [(kinds.AUTH_SESSION_OPENED, {"user": "root", "pty": pty})])
        auth.log(when, self._world(pid), [(kinds.SHELL_STARTED, {})])

    def _history(self, session: _Session) -> None:
        hist = self.spool / f"{session.pid}.hist"
        if session.pty is None or not hist.exists():
            return
        try:
            lines = hist.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return
        for line in lines:
            match = _HISTORY.fullmatch(line)
            if match is None or int(match[1]) <= session.seen:
                continue  # the same last line again (an empty command line re-draws the prompt)
            session.seen = int(match[1])
            if match[2].strip():
                now = datetime.now(UTC)
                self.logs.sessions.log(
                    now, self._world(session.pid), [(kinds.SHELL_COMMAND, {"user": "root", "command": match[2]})]
                )

    def _closed(self, session: _Session) -> None:
        del self.sessions[session.pid]
        (self.spool / f"{session.pid}.hist").unlink(missing_ok=True)
        conn = self.connections.get(session.conn)
        if conn is None:
            return
        conn.sessions.discard(session.pid)
        if session.pty is not None:
            self.logs.sessions.log(
                datetime.now(UTC), conn.sshd_pid, [(kinds.AUTH_SESSION_CLOSED, {"user": "root", "pty": session.pty})]
            )

    def _disconnected(self, conn: _Connection) -> None:
        who = f"root@{conn.ip}"
        self.logs.sessions.log(
            datetime.now(UTC), conn.sshd_pid, [(kinds.AUTH_DISCONNECTED, {"ip": conn.ip, "port": conn.port})]
        )
        self.logs.vobd.emit([(kinds.VOB_SSH_CLOSED, {"who": who})])
        self.logs.hostd.event(f"SSH session was closed for '{who}'.")  # esx.audit.ssh.session.closed
