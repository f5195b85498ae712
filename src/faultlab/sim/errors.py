"""Exception tree of the embedded lab: every message names the lab, node or command concerned."""

from __future__ import annotations


class EmbeddedLabError(Exception):
    """Something the embedded lab could not do (create, start, reach or remove)."""


class NeedsRootError(EmbeddedLabError):
    """The lab needs root: network namespaces, veth/bridge links, iptables, mount namespaces."""

    def __init__(self) -> None:
        super().__init__("faultlab lab needs root (network namespaces, iptables): run `sudo faultlab lab up`")


class MissingPackagesError(EmbeddedLabError):
    """Debian packages the lab runs are not installed; `make setup` (as root) installs them."""

    def __init__(self, packages: list[str]) -> None:
        self.packages = packages
        super().__init__(f"faultlab lab needs Debian packages {' '.join(packages)}: run `sudo make setup`")


class CommandError(EmbeddedLabError):
    """A command the lab ran failed; carries the command, its exit code and its stderr."""

    def __init__(self, argv: list[str], returncode: int, stderr: str, context: str = "") -> None:
        self.argv = argv
        self.returncode = returncode
        self.stderr = stderr
        where = f"{context}: " if context else ""
        tail = stderr.strip().splitlines()[-3:]
        super().__init__(f"{where}`{' '.join(argv)}` exited {returncode}: {' | '.join(tail)}")
