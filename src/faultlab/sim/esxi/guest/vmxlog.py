"""A VM's vmware.log, written by the VMX to the VM folder on its datastore (NFS or VMFS)."""

# Lines are queued and appended by a flusher world; while the datastore is unreachable they wait in the
# queue (VM I/O is retried, never fast-failed), so they land on the datastore once it is back.

from __future__ import annotations

import threading
from collections.abc import Callable

from faultlab.sim.esxi.storage.dsio import DatastoreError, FileClient, VmVolume


class VmxLog:
    """Append-only vmware.log on a datastore, flushed by its own thread."""

    def __init__(self, volume: VmVolume, path: str) -> None:
        self.volume = volume
        self.path = path  # relative to the datastore's root, e.g. /win01/vmware.log
        self._client: FileClient = volume.client(timeout_ms=1000)
        self._pending: list[str] = []
        self._cond = threading.Condition()
        self._offset: int | None = None
        self._thread = threading.Thread(target=self._run, name=f"vmxlog-{path}", daemon=True)
        self.flushed_lines = 0

    def start(self) -> None:
        self._thread.start()

    def write(self, lines: list[str]) -> None:
        with self._cond:
            self._pending.extend(lines)
            self._cond.notify()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def _size(self, client: FileClient) -> int:
        try:
            return client.stat(self.path)
        except DatastoreError as exc:
            if "NOENT" in str(exc) or "No such" in str(exc):
                return 0
            raise

    def _appender(self, offset: int, data: bytes) -> Callable[[FileClient], None]:
        def append(client: FileClient) -> None:
            client.write(self.path, offset, data)

        return append

    def _run(self) -> None:
        stop = self.volume.stop
        while not stop.is_set():
            with self._cond:
                while not self._pending and not stop.is_set():
                    self._cond.wait(0.2)
                batch = list(self._pending)
            if not batch:
                continue
            data = "".join(line + "\n" for line in batch).encode("utf-8")
            try:
                if self._offset is None:
                    self._offset = self.volume.run_io("vm", self._client, self._size)
                offset = self._offset
                self.volume.run_io("vm", self._client, self._appender(offset, data))
            except DatastoreError:
                continue  # host stopping (VM I/O is otherwise retried until it succeeds)
            self._offset = offset + len(data)
            with self._cond:
                del self._pending[: len(batch)]
            self.flushed_lines += len(batch)
        self._client.close()
