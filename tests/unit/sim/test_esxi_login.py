"""Unit tests: an interactive login to a simulated ESXi host shows ESXi's motd per profile and no busybox banner
(the login script's start of ash, run with the machine's busybox in a pty; the full login is in tests/lab)."""

from __future__ import annotations

import os
import pty
import select
import shutil
import time
from pathlib import Path

import pytest

from faultlab.sim.nodes.esxishell import MOTD, STDOUT_FD_VAR, session_script, shell_rc, spool_dir
from faultlab.sim.topology import Layout

NODE = Layout("fl0000", 7, 1, ("win01",), False, ()).esxi_nodes[0]


def test_motd_per_profile_is_the_real_text() -> None:
    for version in ("7.0", "8.0"):
        lines = MOTD[version].splitlines()
        assert lines[0] == "The time and date of this login have been sent to the system logs."
        assert lines[2:7] == [
            "WARNING:",
            "   All commands run on the ESXi shell are logged and may be included in",
            "   support bundles. Do not provide passwords directly on the command line.",
            "   Most tools can prompt for secrets or accept them from standard input.",
            "",
        ]
        assert lines[-2:] == [
            "The ESXi Shell can be disabled by an administrative user. See the",
            "vSphere Security documentation for more information.",
        ] and MOTD[version].endswith("information.\n")  # the prompt follows on the next line
    assert "see https://developer.vmware.com for details." in MOTD["8.0"] and "sysadmintools" not in MOTD["8.0"]
    assert "Please\nsee www.vmware.com/go/sysadmintools for details." in MOTD["7.0"]


def test_login_script_prints_the_motd_only_for_a_tty_without_a_command(tmp_path: Path) -> None:
    script = session_script(NODE, tmp_path / "ctl.sock")
    branch = script[script.index("if [ $# -eq 0 ]") : script.index('exec /bin/sh "$@"')]
    tty = branch[branch.index("[ -t 0 ] && [ -t 1 ]") : branch.index("  fi\n")]
    assert "/motd" in tty and "/motd" not in branch.replace(tty, "")
    assert script.rstrip().endswith('exec /bin/sh "$@"')  # a command (`ssh host cmd`) runs with nothing printed


def read_pty(fd: int, until: str | None, timeout: float = 10) -> str:
    """What the shell writes (CR LF as LF) until `until` has arrived, or (None) until it has exited."""
    out = b""
    deadline = time.monotonic() + timeout
    while until is None or until not in out.decode(errors="replace"):
        left = deadline - time.monotonic()
        assert left > 0, f"no {until or 'exit'!r}: {out!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the shell has gone
                chunk = b""
            if not chunk:
                assert until is None, f"the shell exited before {until!r}: {out!r}"
                break
            out += chunk
    return out.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.skipif(shutil.which("busybox") is None, reason="busybox not installed")
def test_ash_started_like_the_login_prints_no_banner_and_gets_the_tty_back(tmp_path: Path) -> None:
    """The login's `exec /bin/sh -i 3>&1 >/dev/null` and $ENV (shell_rc), with the machine's busybox as /bin/sh."""
    control = tmp_path / "ctl.sock"
    spool_dir(control).mkdir()
    rc = tmp_path / "shrc"
    rc.write_text(shell_rc(NODE, control), encoding="utf-8")
    (start,) = [line.strip() for line in session_script(NODE, control).splitlines() if "/bin/sh -i" in line]
    command = f"export ENV={rc} {STDOUT_FD_VAR}=3; {start.replace('/bin/sh', shutil.which('busybox') + ' sh')}"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its stdin, stdout and stderr, as sshd gives a login shell
        os.chdir("/")  # the login shell's cwd; the prompt shows `~` there
        os.execv("/bin/sh", ["sh", "-c", command])
    try:
        prompt = f"[root@{NODE.name}:~] "
        first = read_pty(fd, prompt)
        assert first.startswith(prompt), first  # no "BusyBox v... built-in shell (ash)" before it
        os.write(fd, f'echo "v=${STDOUT_FD_VAR}"; ls -1 /proc/$$/fd; exit\n'.encode())
        rest = read_pty(fd, None)
        assert "BusyBox" not in rest and "\nv=\n" in rest, rest  # the marker is unset
        fds = set(rest.split("\nv=\n", 1)[1].split())
        assert {"0", "1", "2"} <= fds and "3" not in fds, rest  # fd 3 closed; the output came: stdout is the tty
    finally:
        os.close(fd)
        os.waitpid(pid, 0)
