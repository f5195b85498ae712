"""What a remote command did (CommandResult), a remote file's stat, and the one place commands are quoted.

Kept apart from lab/ssh.py so that code which only reads results does not import paramiko."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from faultlab.lab.errors import CommandError


def quote_command(argv: Sequence[str] | str) -> str:
    """The ONE place where commands are quoted: an argv list is shlex-joined, a string is a shell line as is."""
    if isinstance(argv, str):
        return argv
    if not argv:
        raise ValueError("empty command")
    return shlex.join(argv)


@dataclass(frozen=True)
class CommandResult:
    """What a remote command did. `stdout`/`stderr` are decoded UTF-8 (bad bytes replaced)."""

    argv: tuple[str, ...] | str
    exit_status: int
    stdout: str
    stderr: str
    duration: float  # seconds, monotonic
    host: str = ""
    stdout_bytes: bytes = field(default=b"", repr=False)

    @property
    def command(self) -> str:
        return quote_command(self.argv)

    @property
    def succeeded(self) -> bool:
        return self.exit_status == 0

    def check(self, user: str | None = None) -> CommandResult:
        """Self when the exit status is 0, else CommandError with the command, status and stderr."""
        if self.exit_status != 0:
            tail = self.stderr.strip().splitlines()[-3:]
            raise CommandError(
                f"command {self.command!r} exited {self.exit_status}" + (f": {' | '.join(tail)}" if tail else ""),
                host=self.host,
                user=user,
                exit_status=self.exit_status,
            )
        return self


@dataclass(frozen=True, slots=True)
class FileStat:
    """Size, inode and modification time of a remote file (log cursors mark with size + inode)."""

    size: int
    inode: int
    mtime: int
