"""What a VM needs of its datastore, NFS or VMFS: file operations through a client, and the host's I/O gate."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

T = TypeVar("T")
IoKind = Literal["vm", "host"]  # VM I/O is retried through APD; host ("non-VM") I/O is fast-failed after its timeout
# Errors that retrying cannot cure (the file is not there, or is not allowed): raised at once, even for VM I/O.
PERMANENT = ("NOENT", "No such", "EXIST", "ACCES", "PERM", "ISDIR", "NOTDIR")


class DatastoreError(OSError):
    """A failed datastore operation (an NFS RPC, a SCSI command, or the host stopping)."""

    def __init__(self, op: str, message: str) -> None:
        super().__init__(f"{op}: {message}")
        self.timed_out = "timed out" in message.lower()

    @property
    def permanent(self) -> bool:
        return any(word in str(self) for word in PERMANENT)


class FileClient(Protocol):
    """One world's connection to a datastore's files; used by one thread at a time under `lock`."""

    lock: threading.Lock

    def stat(self, path: str) -> int: ...
    def mkdir(self, path: str) -> None: ...
    def read(self, path: str, offset: int = 0, length: int = 65536) -> bytes: ...
    def write(self, path: str, offset: int, data: bytes, *, create: bool = True, sync: bool = True) -> None: ...
    def close(self) -> None: ...


class VmVolume(Protocol):
    """A datastore VMs live on: its name and volume uuid, the host's stop event, clients, and the I/O gate."""

    name: str
    stop: threading.Event

    @property
    def volume_uuid(self) -> str: ...
    def client(self, timeout_ms: int | None = None) -> FileClient: ...
    def run_io(self, kind: IoKind, client: FileClient, op: Callable[[FileClient], T]) -> T: ...
