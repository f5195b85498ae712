"""The exception tree of reaching a lab: configuration mistakes (file, line, key) and lab failures (host, user)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class FaultlabError(Exception):
    """Base of every error faultlab raises on purpose (a lab problem or a configuration mistake)."""


@dataclass(frozen=True, slots=True)
class Issue:
    """One mistake in a configuration file: where it is and what is wrong."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.key:
            where.append(f"key {self.key}")
        return f"{', '.join(where)}: {self.message}"


class ConfigError(FaultlabError):
    """An inventory or scenario file is wrong. Carries every issue found; the first one names file/line/key."""

    def __init__(self, issues: Issue | Sequence[Issue]) -> None:
        self.issues: tuple[Issue, ...] = (issues,) if isinstance(issues, Issue) else tuple(issues)
        if not self.issues:
            raise ValueError("ConfigError needs at least one issue")
        first = self.issues[0]
        self.file, self.line, self.key = first.file, first.line, first.key
        lines = [str(i) for i in self.issues]
        head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
        super().__init__(head)


class FaultNotAllowedError(ConfigError):
    """A fault would touch a host or storage target whose inventory entry lacks an explicit `allow_faults: true`."""


class LabError(FaultlabError):
    """Something in the lab could not be reached or done; the message names the host and the user."""

    def __init__(self, message: str, *, host: str | None = None, user: str | None = None) -> None:
        self.host, self.user = host, user
        who = f"{user}@{host}" if user and host else (host or "")
        super().__init__(f"{who}: {message}" if who else message)


class UnreachableError(LabError):
    """The host did not answer (refused, timed out, reset), also after the retries for transient errors."""


class AuthenticationError(LabError):
    """The host refused the credentials. Never retried."""


class HostKeyError(LabError):
    """The host's key is unknown or differs from the pinned one / known_hosts. Never retried."""


class CommandTimeoutError(LabError):
    """A remote command did not finish within its timeout (its channel was closed)."""

    def __init__(self, message: str, *, host: str | None = None, user: str | None = None, stdout: str = "") -> None:
        super().__init__(message, host=host, user=user)
        self.stdout = stdout


class CommandError(LabError):
    """A remote command run with check=True exited non-zero."""

    def __init__(
        self, message: str, *, host: str | None = None, user: str | None = None, exit_status: int = -1
    ) -> None:
        super().__init__(message, host=host, user=user)
        self.exit_status = exit_status


class RemoteFileError(LabError):
    """A remote file could not be read or examined (`missing` when it does not exist)."""

    def __init__(
        self, message: str, *, host: str | None = None, user: str | None = None, path: str = "", missing: bool = False
    ) -> None:
        super().__init__(message, host=host, user=user)
        self.path, self.missing = path, missing


class VimFaultError(LabError):
    """vim-cmd printed a fault block, e.g. `(vim.fault.NotFound) { ... msg = "Unable to find a VM ..." }`.

    `fault` is the fault's type name (vim.fault.NotFound), `msg` its top-level msg, `context` the words vim-cmd
    printed before the block on the same line ("Reset failed"), if any."""

    def __init__(self, fault: str, msg: str, *, context: str = "", host: str | None = None) -> None:
        self.fault, self.msg, self.context = fault, msg, context
        head = f"{context}: " if context else ""
        super().__init__(f"{head}{fault}: {msg}" if msg else f"{head}{fault}", host=host)
