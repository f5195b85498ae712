"""Windows bug check codes and NTSTATUS values: names for the guest.bsod event (Microsoft bug check reference)."""

from __future__ import annotations

__all__ = ["BUGCHECK_NAMES", "NTSTATUS_NAMES", "bugcheck_name", "status_name"]

BUGCHECK_NAMES: dict[int, str] = {
    0x0A: "IRQL_NOT_LESS_OR_EQUAL",
    0x19: "BAD_POOL_HEADER",
    0x1A: "MEMORY_MANAGEMENT",
    0x1E: "KMODE_EXCEPTION_NOT_HANDLED",
    0x24: "NTFS_FILE_SYSTEM",
    0x3B: "SYSTEM_SERVICE_EXCEPTION",
    0x50: "PAGE_FAULT_IN_NONPAGED_AREA",
    0x5C: "HAL_INITIALIZATION_FAILED",
    0x6B: "PROCESS1_INITIALIZATION_FAILED",
    0x77: "KERNEL_STACK_INPAGE_ERROR",
    0x7A: "KERNEL_DATA_INPAGE_ERROR",
    0x7B: "INACCESSIBLE_BOOT_DEVICE",
    0x7E: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
    0x80: "NMI_HARDWARE_FAILURE",
    0x9F: "DRIVER_POWER_STATE_FAILURE",
    0xC5: "DRIVER_CORRUPTED_EXPOOL",
    0xD1: "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
    0xEA: "THREAD_STUCK_IN_DEVICE_DRIVER",
    0xED: "UNMOUNTABLE_BOOT_VOLUME",
    0xEF: "CRITICAL_PROCESS_DIED",
    0xF4: "CRITICAL_OBJECT_TERMINATION",
    0x101: "CLOCK_WATCHDOG_TIMEOUT",
    0x124: "WHEA_UNCORRECTABLE_ERROR",
    0x133: "DPC_WATCHDOG_VIOLATION",
    0x139: "KERNEL_SECURITY_CHECK_FAILURE",
}

# I/O status values that bug checks 0x7A / 0x77 report in parameter 2 (storage failures).
NTSTATUS_NAMES: dict[int, str] = {
    0xC0000006: "STATUS_IN_PAGE_ERROR",
    0xC000000E: "STATUS_NO_SUCH_DEVICE",
    0xC000009A: "STATUS_INSUFFICIENT_RESOURCES",
    0xC000009C: "STATUS_DEVICE_DATA_ERROR",
    0xC000009D: "STATUS_DEVICE_NOT_CONNECTED",
    0xC000016A: "STATUS_DISK_OPERATION_FAILED",
    0xC0000185: "STATUS_IO_DEVICE_ERROR",
}

# Bug checks whose parameter 2 is an NTSTATUS I/O status.
STATUS_IN_PARAM2: frozenset[int] = frozenset({0x7A, 0x77})

# Windows sign-extends 32-bit bugcheck codes into the 64-bit MSR on some builds (e.g. 0x1000007E).
_HIGH_FLAG = 0x10000000


def bugcheck_name(code: int) -> str | None:
    """The symbolic name of a bug check code (also for the 0x1000xxxx variants), None if unknown."""
    name = BUGCHECK_NAMES.get(code)
    if name is None and code & _HIGH_FLAG:
        name = BUGCHECK_NAMES.get(code & ~_HIGH_FLAG)
    return name


def status_name(code: int, params: list[int | None]) -> str | None:
    """The NTSTATUS name carried by parameter 2 of an in-page error bug check, when there is one."""
    if (code & ~_HIGH_FLAG) not in STATUS_IN_PARAM2 or len(params) < 2 or params[1] is None:
        return None
    return NTSTATUS_NAMES.get(params[1] & 0xFFFFFFFF)
