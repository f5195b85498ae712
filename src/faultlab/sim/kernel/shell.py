"""Running the lab's commands (ip, iptables, tgtadm, ssh-keygen...) in one place, with errors that say which."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass

from faultlab.sim.errors import CommandError

# sbin first: the lab's tools (ip, sshd, tgtd...) live there, and sudo or a user shell may not list them.
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Exit code and decoded output of one finished command."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(argv: list[str], *, check: bool = True, context: str = "", timeout: float = 60.0) -> CommandResult:
    """Run `argv` (no shell), capture its output; raise CommandError on a non-zero exit when `check`."""
    env = {**os.environ, "PATH": f"{SBIN_PATH}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    result = CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout, context)
    return result
