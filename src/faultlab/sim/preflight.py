"""What the embedded lab needs from the machine: root, and the Debian packages `make setup` installs."""

from __future__ import annotations

import glob
import os
import shutil

from faultlab.sim.errors import MissingPackagesError, NeedsRootError
from faultlab.sim.shell import SBIN_PATH

# Debian package -> a file it installs that the lab runs.
REQUIRED: dict[str, str] = {
    "iproute2": "ip",
    "iptables": "iptables",
    "openssh-server": "sshd",
    "openssh-client": "ssh-keygen",
    "nfs-ganesha": "ganesha.nfsd",
    "nfs-ganesha-vfs": "/usr/lib/*/ganesha/libfsalvfs.so",
    "rpcbind": "rpcbind",
    "tgt": "tgtd",
    "libnfs-utils": "nfs-ls",
    "libiscsi-bin": "iscsi-inq",
    "util-linux": "unshare",
    "dpkg": "start-stop-daemon",
    "busybox": "/usr/bin/busybox",  # the ESXi hosts' shell and applets (faultlab.sim.esxishell)
}


def missing_packages() -> list[str]:
    """Debian packages whose program is not found."""
    missing = []
    for package, program in REQUIRED.items():
        found = glob.glob(program) if program.startswith("/") else shutil.which(program, path=SBIN_PATH)
        if not found:
            missing.append(package)
    return missing


def check(need_root: bool = True) -> None:
    """Raise NeedsRootError / MissingPackagesError (one-line messages) when the lab cannot run here."""
    if need_root and os.geteuid() != 0:
        raise NeedsRootError()
    missing = missing_packages()
    if missing:
        raise MissingPackagesError(missing)
