"""Files on a VMFS datastore: every operation is first a real SCSI command on the LUN's path, then a file change.

The lab does not implement VMFS on the LUN. The datastore's files live in a folder shared by the lab's hosts (the
node's /vmfs/volumes/<uuid> view of it); what makes them a datastore is the gate: a write is a WRITE(16) of its
data to the LUN, a read, stat or mkdir a TEST UNIT READY, and the file changes only once that command completed
GOOD. So a fault on the iSCSI target stops a VM's disk and vmware.log writes exactly as it stops the VMFS
heartbeat, and what a stalled VM wrote lands once the path is back.
"""

from __future__ import annotations

import os
import threading
import zlib
from pathlib import Path
from typing import Protocol

from faultlab.sim.esxi.storage.dsio import DatastoreError

SECTOR = 512
DATA_OFFSET = 64 << 20  # past the VMFS heartbeat region: file data goes from here on the LUN
FILE_SPAN = 1 << 20  # each file's data cycles through its own 1 MiB of the LUN
FILE_SLOTS = 1024
MAX_WRITE = 64 << 10  # one command carries at most this much of a write's data


class ScsiPath(Protocol):
    """The volume's path: one SCSI command, raising DatastoreError unless it completed GOOD."""

    def scsi_io(self, lba: int | None, data: bytes) -> None: ...


def lba_of(path: str, offset: int, length: int) -> int:
    """Where on the LUN a write of `length` bytes at `offset` of `path` goes (inside that file's span)."""
    slot = zlib.crc32(path.encode()) % FILE_SLOTS
    within = (offset // SECTOR * SECTOR) % FILE_SPAN
    if within + length > FILE_SPAN:
        within = 0
    return (DATA_OFFSET + slot * FILE_SPAN + within) // SECTOR


class VmfsClient:
    """A world's handle on the datastore's files (the FileClient of dsio), gated by `path` (the volume)."""

    def __init__(self, path: ScsiPath, files_dir: Path) -> None:
        self.path = path
        self.root = files_dir
        self.lock = threading.Lock()

    def _local(self, path: str) -> Path:
        local = (self.root / path.lstrip("/")).resolve()
        if local != self.root.resolve() and self.root.resolve() not in local.parents:
            raise DatastoreError(f"open {path}", "ACCES: outside the datastore")
        return local

    def _check(self) -> None:
        self.path.scsi_io(None, b"")

    def stat(self, path: str) -> int:
        self._check()
        try:
            return self._local(path).stat().st_size
        except FileNotFoundError:
            raise DatastoreError(f"stat {path}", "NOENT: No such file or directory") from None

    def mkdir(self, path: str) -> None:
        self._check()
        self._local(path).mkdir(parents=True, exist_ok=True)

    def read(self, path: str, offset: int = 0, length: int = 65536) -> bytes:
        self._check()
        try:
            with self._local(path).open("rb") as fh:
                fh.seek(offset)
                return fh.read(length)
        except FileNotFoundError:
            raise DatastoreError(f"open {path}", "NOENT: No such file or directory") from None

    def write(self, path: str, offset: int, data: bytes, *, create: bool = True, sync: bool = True) -> None:
        """The data goes to the LUN first (FUA); acknowledged, it is written to the file."""
        local = self._local(path)
        if not create and not local.exists():
            raise DatastoreError(f"open {path}", "NOENT: No such file or directory")
        head = data[:MAX_WRITE]
        padded = head + b"\0" * (-len(head) % SECTOR)
        self.path.scsi_io(lba_of(path, offset, len(padded)), padded or b"\0" * SECTOR)
        try:
            fd = os.open(local, os.O_WRONLY | os.O_CREAT, 0o644)
        except FileNotFoundError:  # its folder is missing, as NFS says NOENT for it
            raise DatastoreError(f"open {path}", "NOENT: No such file or directory") from None
        try:
            os.pwrite(fd, data, offset)
            if sync:
                os.fsync(fd)
        except OSError as exc:
            raise DatastoreError(f"write {path}", exc.strerror or str(exc)) from None
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing to release: the volume's session carries every world's commands, as the one path does."""
