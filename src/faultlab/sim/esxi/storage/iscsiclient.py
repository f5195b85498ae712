"""Real iSCSI I/O through libiscsi (ctypes, synchronous API): TEST UNIT READY, READ16/WRITE16, sense data."""

from __future__ import annotations

import ctypes
import socket
import threading
from ctypes import c_char_p, c_int, c_size_t, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass

ISCSI_SESSION_NORMAL = 2
ISCSI_HEADER_DIGEST_NONE = 0
SCSI_STATUS_GOOD = 0
SCSI_STATUS_CHECK_CONDITION = 2
SCSI_STATUS_ERROR = 0x0F000001  # libiscsi: transport-level failure (no SCSI status)
SCSI_STATUS_TIMEOUT = 0x0F000003

_LIB: ctypes.CDLL | None = None


class _Sense(ctypes.Structure):
    _fields_ = [
        ("error_type", ctypes.c_ubyte),
        ("key", c_int),
        ("ascq", c_int),
        ("bits", ctypes.c_ubyte),  # three 1-bit fields: GCC packs bit_pointer right after them
        ("bit_pointer", ctypes.c_ubyte),
        ("field_pointer", ctypes.c_uint16),
    ]


class _Data(ctypes.Structure):
    _fields_ = [("size", c_int), ("data", c_void_p)]  # struct scsi_data: 8-aligned inside scsi_task


class _Task(ctypes.Structure):
    """The head of libiscsi's struct scsi_task (1.19) up to the sense data: all we read."""

    _fields_ = [
        ("status", c_int),
        ("cdb_size", c_int),
        ("xfer_dir", c_int),
        ("expxferlen", c_int),
        ("cdb", ctypes.c_ubyte * 16),
        ("residual_status", c_int),
        ("residual", c_size_t),
        ("sense", _Sense),
        ("datain", _Data),
    ]


def _lib() -> ctypes.CDLL:
    global _LIB  # noqa: PLW0603 - one process-wide handle on the shared library
    if _LIB is None:
        lib = ctypes.CDLL("libiscsi.so.7")
        lib.iscsi_create_context.restype = c_void_p
        lib.iscsi_create_context.argtypes = [c_char_p]
        lib.iscsi_destroy_context.argtypes = [c_void_p]
        lib.iscsi_get_error.restype = c_char_p
        lib.iscsi_get_error.argtypes = [c_void_p]
        lib.iscsi_set_targetname.argtypes = [c_void_p, c_char_p]
        lib.iscsi_set_session_type.argtypes = [c_void_p, c_int]
        lib.iscsi_set_header_digest.argtypes = [c_void_p, c_int]
        lib.iscsi_set_timeout.argtypes = [c_void_p, c_int]
        lib.iscsi_set_noautoreconnect.argtypes = [c_void_p, c_int]
        lib.iscsi_set_tcp_syncnt.argtypes = [c_void_p, c_int]
        lib.iscsi_full_connect_sync.argtypes = [c_void_p, c_char_p, c_int]
        for name in ("iscsi_testunitready_sync",):
            getattr(lib, name).restype = ctypes.POINTER(_Task)
            getattr(lib, name).argtypes = [c_void_p, c_int]
        lib.iscsi_readcapacity16_sync.restype = ctypes.POINTER(_Task)
        lib.iscsi_readcapacity16_sync.argtypes = [c_void_p, c_int]
        lib.iscsi_write16_sync.restype = ctypes.POINTER(_Task)
        # (ctx, lun, lba, data, datalen, blocksize, wrprotect, dpo, fua, fua_nv, group_number)
        lib.iscsi_write16_sync.argtypes = [
            c_void_p,
            c_int,
            c_uint64,
            c_char_p,
            c_uint32,
            c_int,
            c_int,
            c_int,
            c_int,
            c_int,
            c_int,
        ]
        lib.scsi_free_scsi_task.argtypes = [c_void_p]
        _LIB = lib
    return _LIB


@dataclass(frozen=True, slots=True)
class ScsiResult:
    """What one command got back: GOOD, CHECK CONDITION with sense, or a transport failure."""

    status: int
    sense_key: int = 0
    asc: int = 0
    ascq: int = 0
    error: str = ""

    @property
    def good(self) -> bool:
        return self.status == SCSI_STATUS_GOOD

    @property
    def transport_failed(self) -> bool:
        return self.status not in (SCSI_STATUS_GOOD, SCSI_STATUS_CHECK_CONDITION)

    @property
    def lun_not_supported(self) -> bool:
        """Sense 0x5/0x25/0x0 ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED: the PDL signal."""
        return self.status == SCSI_STATUS_CHECK_CONDITION and (self.sense_key, self.asc, self.ascq) == (0x5, 0x25, 0x0)


class IscsiSession:
    """One iSCSI session to portal/iqn/lun; reconnects on demand; every command bounded by `timeout_s`."""

    def __init__(self, initiator: str, portal: str, iqn: str, lun: int, timeout_s: int) -> None:
        self.initiator, self.portal, self.iqn, self.lun = initiator, portal, iqn, lun
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self._ctx: int | None = None

    @property
    def connected(self) -> bool:
        return self._ctx is not None

    def connect(self) -> str | None:
        """Log in; returns None on success or the libiscsi error text."""
        self.close()
        host, _, port = self.portal.rpartition(":")
        try:  # bound the TCP connect by the timeout: libiscsi's waits for SYN retries when packets are dropped
            with socket.create_connection((host, int(port or 3260)), timeout=self.timeout_s):
                pass
        except OSError as exc:
            return f"connect to {self.portal} failed: {exc.strerror or exc}"
        lib = _lib()
        ctx = lib.iscsi_create_context(self.initiator.encode())
        lib.iscsi_set_targetname(ctx, self.iqn.encode())
        lib.iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL)
        lib.iscsi_set_header_digest(ctx, ISCSI_HEADER_DIGEST_NONE)
        lib.iscsi_set_timeout(ctx, self.timeout_s)
        lib.iscsi_set_tcp_syncnt(ctx, 1)  # bound the login's TCP connect when SYNs are dropped
        lib.iscsi_set_noautoreconnect(ctx, 1)  # the host's own state machine decides when to log in again
        if lib.iscsi_full_connect_sync(ctx, self.portal.encode(), self.lun) != 0:
            error = (lib.iscsi_get_error(ctx) or b"login failed").decode(errors="replace")
            lib.iscsi_destroy_context(ctx)
            return error
        self._ctx = ctx
        return None

    def close(self) -> None:
        if self._ctx is not None:
            _lib().iscsi_destroy_context(self._ctx)
            self._ctx = None

    def _result(self, task: ctypes._Pointer[_Task] | None) -> ScsiResult:
        lib = _lib()
        if not task:
            error = (lib.iscsi_get_error(self._ctx) or b"no task").decode(errors="replace")
            self.close()
            return ScsiResult(SCSI_STATUS_ERROR, error=error)
        head = task.contents
        ascq_pair = head.sense.ascq
        result = ScsiResult(head.status, head.sense.key, (ascq_pair >> 8) & 0xFF, ascq_pair & 0xFF)
        lib.scsi_free_scsi_task(task)
        if result.transport_failed:
            self.close()
        return result

    def test_unit_ready(self) -> ScsiResult:
        if self._ctx is None:
            return ScsiResult(SCSI_STATUS_ERROR, error="not logged in")
        return self._result(_lib().iscsi_testunitready_sync(self._ctx, self.lun))

    def capacity_bytes(self) -> int | None:
        """READ CAPACITY(16): (last LBA + 1) x block length, or None if it failed."""
        if self._ctx is None:
            return None
        lib = _lib()
        task = lib.iscsi_readcapacity16_sync(self._ctx, self.lun)
        if not task:
            return None
        head = task.contents
        size = None
        if head.status == SCSI_STATUS_GOOD and head.datain.size >= 12:
            raw = ctypes.string_at(head.datain.data, 12)
            size = (int.from_bytes(raw[:8], "big") + 1) * int.from_bytes(raw[8:12], "big")
        lib.scsi_free_scsi_task(task)
        return size

    def write16(self, lba: int, data: bytes, block_size: int = 512) -> ScsiResult:
        if self._ctx is None:
            return ScsiResult(SCSI_STATUS_ERROR, error="not logged in")
        task = _lib().iscsi_write16_sync(
            self._ctx, self.lun, lba, data, len(data), block_size, 0, 0, 1, 0, 0
        )  # FUA=1: the heartbeat must reach the LUN
        return self._result(task)
