"""Unit tests: the host's auth.log / shell.log / vobd / hostd lines for SSH logins, from the login shell's session
files (faultlab.sim.esxi.sshsessions), in both profiles, against the real prefixes and templates."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.hostlogs import HostLogs
from faultlab.sim.esxi.sshsessions import COMMAND_CHARS, SshSessions, session_spool, tcp_established
from faultlab.sim.nodes.esxishell import spool_dir

FP = "N84r82PdXq72rYLIq+mwcAOqbb4BEmpnjN7u7rkSD5M"


class Kernel:
    """What the watcher asks the kernel: live pids and established connections (set by the test)."""

    def __init__(self) -> None:
        self.pids: set[int] = set()
        self.conns: set[tuple[str, int]] = set()


def write_session(spool: Path, pid: int, port: int, tty: str, command: str, sshd: int = 4242) -> None:
    (spool / f"{pid}.open").write_text(f"198.18.0.1 {port} 198.18.1.10 22\n{sshd}\n{tty}\n{command}")


def lines(logs: Path, name: str) -> list[str]:
    return (logs / f"{name}.log").read_text().splitlines()


def bodies(logs: Path, name: str, profile: str) -> list[str]:
    out = []
    for line in lines(logs, name):
        head = re.fullmatch(kinds.HEADERS[(name, profile)], line)
        assert head, f"{name}.log line without its real {profile} prefix: {line!r}"
        out.append(head["body"])
    return out


@pytest.fixture(params=["7.0", "8.0"])
def watcher(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[SshSessions, Kernel, Path, str]:
    profile = str(request.param)
    kernel = Kernel()
    spool = session_spool(tmp_path / "run" / "esxi-control.sock")
    spool.mkdir(parents=True)
    logs = HostLogs(tmp_path / "log", profile, "esx01")
    ssh = SshSessions(
        spool, logs, FP, threading.Event(), alive=kernel.pids.__contains__,
        established=lambda ip, port: (ip, port) in kernel.conns,
    )  # fmt: skip
    return ssh, kernel, tmp_path / "log", profile


def test_a_command_session_logs_connection_key_command_and_disconnect(
    watcher: tuple[SshSessions, Kernel, Path, str],
) -> None:
    ssh, kernel, logs, profile = watcher
    kernel.pids |= {101, 102}
    kernel.conns.add(("198.18.0.1", 50311))
    write_session(ssh.spool, 101, 50311, "not a tty", "vim-cmd vmsvc/getallvms")
    write_session(ssh.spool, 102, 50311, "not a tty", "x" * 300 + "\nsecond line")  # same connection
    ssh.poll()
    assert not list(ssh.spool.glob("*.open"))
    assert bodies(logs, "auth", profile) == [
        "Connection from 198.18.0.1 port 50311",
        f"Accepted publickey for root from 198.18.0.1 port 50311 ssh2: ED25519 SHA256:{FP}",
        "User 'root' running command 'vim-cmd vmsvc/getallvms'",
        f"User 'root' running command '{'x' * COMMAND_CHARS}'",
    ]
    pids = {re.search(r"sshd\[(\d+)\]", line)[1] for line in lines(logs, "auth")}  # type: ignore[index]
    assert len(pids) == 1  # one sshd per connection, as in the real samples
    assert "vob.user.ssh.session.opened] SSH session was opened for 'root@198.18.0.1'." in lines(logs, "vobd")[0]
    assert "Event 3000 : SSH session was opened for 'root@198.18.0.1'." in lines(logs, "hostd")[0]
    kernel.pids.clear()
    ssh.poll()  # the sessions ended, the connection (the harness's pooled client) is still up
    assert len(lines(logs, "auth")) == 4 and len(lines(logs, "vobd")) == 1
    kernel.conns.clear()
    ssh.poll()
    assert bodies(logs, "auth", profile)[-1] == "Disconnected from 198.18.0.1 port 50311"
    assert "[vob.user.ssh.session.closed] SSH session was closed for 'root@198.18.0.1'." in lines(logs, "vobd")[-1]
    assert "Event 3001 : SSH session was closed for 'root@198.18.0.1'." in lines(logs, "hostd")[-1]
    assert ssh.logs.events() == []  # kept out of the history the simulated vCenter is fed from
    assert lines(logs, "shell") == []  # a command over SSH is not an ESXi Shell command line
    ssh.poll()
    assert len(lines(logs, "auth")) == 5  # nothing twice


def test_an_interactive_login_logs_its_pty_and_each_typed_command(
    watcher: tuple[SshSessions, Kernel, Path, str],
) -> None:
    ssh, kernel, logs, profile = watcher
    kernel.pids.add(201)
    kernel.conns.add(("198.18.0.1", 40000))
    write_session(ssh.spool, 201, 40000, "/dev/pts/3", "")
    ssh.poll()
    hist = ssh.spool / "201.hist"
    hist.write_text("    0 esxcli storage nfs list\n    0 esxcli storage nfs list\n")  # prompt re-drawn
    ssh.poll()
    with hist.open("a") as fh:
        fh.write("    1 vim-cmd vmsvc/getallvms\n")
    ssh.poll()
    kernel.pids.clear()
    ssh.poll()
    auth = bodies(logs, "auth", profile)
    assert auth[2:] == [
        "Session opened for 'root' on /dev/char/pty/t3",
        "Session closed for 'root' on /dev/char/pty/t3",
    ]
    assert bodies(logs, "shell", profile) == [
        "Interactive shell session started",
        "[root]: esxcli storage nfs list",
        "[root]: vim-cmd vmsvc/getallvms",
    ]
    assert not hist.exists()


def test_a_broken_session_file_is_reported_and_skipped(
    watcher: tuple[SshSessions, Kernel, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    ssh, _kernel, logs, _profile = watcher
    (ssh.spool / "301.open").write_text("garbage")
    ssh.poll()
    assert "SSH session file" in capsys.readouterr().out and lines(logs, "auth") == []
    assert not (ssh.spool / "301.open").exists()


def test_the_login_shell_and_the_host_agree_on_the_spool(tmp_path: Path) -> None:
    sock = tmp_path / "run" / "esxi-control.sock"
    assert spool_dir(sock) == session_spool(sock)


def test_tcp_established_reads_this_namespaces_table() -> None:
    assert tcp_established("not-an-ip", 1) is False
    assert tcp_established("203.0.113.9", 1) is False  # TEST-NET-3: never connected here
