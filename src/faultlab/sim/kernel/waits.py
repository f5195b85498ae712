"""One wait helper with a monotonic deadline, and the readiness probes the lab waits on."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from faultlab.sim.errors import EmbeddedLabError


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `condition` until it is true; raise EmbeddedLabError naming `what` when `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise EmbeddedLabError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when a TCP connection to host:port is accepted."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
