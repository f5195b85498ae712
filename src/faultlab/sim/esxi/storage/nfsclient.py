"""Real NFSv3 I/O through libnfs (ctypes, synchronous API): every call bounded by the context's timeout."""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from ctypes import POINTER, c_char_p, c_int, c_uint64, c_void_p

from faultlab.sim.esxi.storage.dsio import DatastoreError

_LIB: ctypes.CDLL | None = None
NFS_PORT = 2049


class NfsError(DatastoreError):
    """A failed libnfs call; `timed_out` when the RPC got no answer within the timeout."""


def _lib() -> ctypes.CDLL:
    global _LIB  # noqa: PLW0603 - one process-wide handle on the shared library
    if _LIB is None:
        lib = ctypes.CDLL("libnfs.so.13")
        lib.nfs_init_context.restype = c_void_p
        lib.nfs_destroy_context.argtypes = [c_void_p]
        lib.nfs_get_error.restype = c_char_p
        lib.nfs_get_error.argtypes = [c_void_p]
        lib.nfs_set_timeout.argtypes = [c_void_p, c_int]
        lib.nfs_set_tcp_syncnt.argtypes = [c_void_p, c_int]
        lib.nfs_mount.argtypes = [c_void_p, c_char_p, c_char_p]
        lib.nfs_stat64.argtypes = [c_void_p, c_char_p, c_void_p]
        lib.nfs_open2.argtypes = [c_void_p, c_char_p, c_int, c_int, POINTER(c_void_p)]
        lib.nfs_open.argtypes = [c_void_p, c_char_p, c_int, POINTER(c_void_p)]
        lib.nfs_close.argtypes = [c_void_p, c_void_p]
        lib.nfs_pread.argtypes = [c_void_p, c_void_p, c_uint64, c_uint64, c_void_p]
        lib.nfs_pwrite.argtypes = [c_void_p, c_void_p, c_uint64, c_uint64, c_char_p]
        lib.nfs_fsync.argtypes = [c_void_p, c_void_p]
        lib.nfs_mkdir.argtypes = [c_void_p, c_char_p]
        _LIB = lib
    return _LIB


class _Stat64(ctypes.Structure):
    _fields_ = [
        (name, c_uint64)
        for name in (
            "dev",
            "ino",
            "mode",
            "nlink",
            "uid",
            "gid",
            "rdev",
            "size",
            "blksize",
            "blocks",
            "atime",
            "mtime",
            "ctime",
            "atime_nsec",
            "mtime_nsec",
            "ctime_nsec",
            "used",
        )
    ]


class NfsClient:
    """One libnfs context (one TCP connection) on one export; not shared between threads without its lock."""

    def __init__(self, server: str, export: str, timeout_ms: int) -> None:
        self.server = server
        self.export = export
        self.lock = threading.Lock()
        self._ctx: int | None = None
        self._timeout_ms = timeout_ms
        self._stale = False

    def _error(self, op: str) -> NfsError:
        raw = _lib().nfs_get_error(self._ctx) if self._ctx else None
        error = NfsError(op, raw.decode(errors="replace") if raw else "unknown error")
        if error.timed_out:
            # Start over on a fresh TCP connection at the next call: an established one that saw drops
            # recovers only at its next retransmission, backed off to many seconds; a new SYN is at once.
            self._stale = True
        return error

    def set_timeout(self, timeout_ms: int) -> None:
        self._timeout_ms = timeout_ms
        if self._ctx:
            _lib().nfs_set_timeout(self._ctx, timeout_ms)

    def _context(self) -> int:
        if self._stale:
            self.close()
            self._stale = False
        if self._ctx is None:
            self._probe_port()
            lib = _lib()
            ctx = lib.nfs_init_context()
            if not ctx:
                raise NfsError("nfs_init_context", "failed")
            lib.nfs_set_timeout(ctx, self._timeout_ms)
            lib.nfs_set_tcp_syncnt(ctx, 1)  # a dropped SYN fails the (re)connect in ~3 s, not minutes
            if lib.nfs_mount(ctx, self.server.encode(), self.export.encode()) != 0:
                message = (lib.nfs_get_error(ctx) or b"mount failed").decode(errors="replace")
                lib.nfs_destroy_context(ctx)
                raise NfsError("mount", message)
            self._ctx = ctx
        return self._ctx

    def _probe_port(self) -> None:
        """A TCP connect to the NFS port within the timeout before (re)mounting: libnfs's own connect waits
        for SYN retries (seconds) when packets are dropped; this keeps a reconnect within the timeout."""
        try:
            with socket.create_connection((self.server, NFS_PORT), timeout=self._timeout_ms / 1000):
                pass
        except TimeoutError:
            raise NfsError("connect", f"connect to {self.server}:{NFS_PORT} timed out") from None
        except OSError as exc:
            raise NfsError("connect", f"connect to {self.server}:{NFS_PORT}: {exc.strerror or exc}") from None

    def close(self) -> None:
        if self._ctx:
            _lib().nfs_destroy_context(self._ctx)
            self._ctx = None

    def stat(self, path: str) -> int:
        """GETATTR (the heartbeat); returns the size."""
        ctx = self._context()
        st = _Stat64()
        if _lib().nfs_stat64(ctx, path.encode(), ctypes.byref(st)) != 0:
            raise self._error(f"stat {path}")
        return int(st.size)

    def mkdir(self, path: str) -> None:
        ctx = self._context()
        if _lib().nfs_mkdir(ctx, path.encode()) != 0:
            err = self._error(f"mkdir {path}")
            if "exist" not in str(err).lower():
                raise err

    def read(self, path: str, offset: int = 0, length: int = 65536) -> bytes:
        """Open, read `length` bytes at `offset`, close (hostd's fopen + read of a .vmx)."""
        ctx, lib = self._context(), _lib()
        fh = c_void_p()
        if lib.nfs_open(ctx, path.encode(), os.O_RDONLY, ctypes.byref(fh)) != 0:
            raise self._error(f"open {path}")
        try:
            chunks: list[bytes] = []
            done = 0
            while done < length:
                want = min(65536, length - done)
                buf = ctypes.create_string_buffer(want)
                got = lib.nfs_pread(ctx, fh, offset + done, want, buf)
                if got < 0:
                    raise self._error(f"read {path}")
                if got == 0:
                    break
                chunks.append(buf.raw[:got])
                done += got
            return b"".join(chunks)
        finally:
            lib.nfs_close(ctx, fh)

    def write(self, path: str, offset: int, data: bytes, *, create: bool = True, sync: bool = True) -> None:
        """Open (creating), write `data` at `offset`, fsync, close: acknowledged only if all succeeded."""
        ctx, lib = self._context(), _lib()
        fh = c_void_p()
        flags = os.O_WRONLY | (os.O_CREAT if create else 0)
        if lib.nfs_open2(ctx, path.encode(), flags, 0o644, ctypes.byref(fh)) != 0:
            raise self._error(f"open {path}")
        try:
            done = 0
            while done < len(data):
                chunk = data[done:]
                wrote = lib.nfs_pwrite(ctx, fh, offset + done, len(chunk), chunk)
                if wrote <= 0:
                    raise self._error(f"write {path}")
                done += wrote
            if sync and lib.nfs_fsync(ctx, fh) != 0:
                raise self._error(f"fsync {path}")
        finally:
            lib.nfs_close(ctx, fh)
