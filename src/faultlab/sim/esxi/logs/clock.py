"""Real UTC timestamps in ESXi's millisecond layout and a host uptime counter for vobd's <us>us field."""

from __future__ import annotations

import time
from datetime import UTC, datetime

# The host "booted" this long before the simulator process started (vobd uptimes are never tiny).
BOOT_LEAD_US = 95_000_000


def esx_timestamp(when: datetime | None = None) -> str:
    """`2026-11-22T04:30:01.123Z` (UTC, milliseconds), as every ESXi 5.x+ log writes it."""
    when = when or datetime.now(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Uptime:
    """Microseconds since the simulated boot, from the monotonic clock."""

    def __init__(self, lead_us: int = BOOT_LEAD_US) -> None:
        self._start = time.monotonic_ns()
        self._lead_us = lead_us

    def us(self) -> int:
        return self._lead_us + (time.monotonic_ns() - self._start) // 1000

    def dhms(self) -> str:
        """`0d0h12m5s` as vmksummary's heartbeat line shows the uptime."""
        seconds = self.us() // 1_000_000
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{days}d{hours}h{minutes}m{secs}s"
