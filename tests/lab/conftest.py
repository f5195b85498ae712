"""The embedded lab the lab tests share: one fixture, shaped per module (LAB_SHAPE), always taken down.

A module sets `LAB_SHAPE = {"hosts": 1, "vms": 1, "vcenter": False, ...}` (EmbeddedLab.up's keywords) and asks
for `embedded_lab`; tests that run scenarios through the harness use the pytest plugin's `lab` instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from faultlab.lab.esxi import Device, EsxiHost, StoragePath
from faultlab.sim.lab import EmbeddedLab

DEFAULT_SHAPE: dict[str, Any] = {"hosts": 1, "vms": 1}


@pytest.fixture(scope="module")
def embedded_lab(request: pytest.FixtureRequest) -> Iterator[EmbeddedLab]:
    shape = {**DEFAULT_SHAPE, **getattr(request.module, "LAB_SHAPE", {})}
    with EmbeddedLab.up(**shape) as lab:
        yield lab


def lun_paths(host: EsxiHost) -> list[StoragePath]:
    """The host's paths to SAN LUNs (naa.*): the iSCSI LUN, without the local boot disk and CD-ROM (mpx.*) that a
    real host, and so the simulated one, lists too."""
    return [p for p in host.paths() if p.device.startswith("naa.")]


def lun_devices(host: EsxiHost) -> list[Device]:
    """The host's SAN devices (naa.*), without the local boot disk and CD-ROM."""
    return [d for d in host.devices() if d.id.startswith("naa.")]


def wait_for(
    what: str, cond: Callable[[], Any], timeout_s: float, interval_s: float = 0.1, diag: Callable[[], str] = str
) -> Any:
    """Poll `cond` until truthy (returned) or fail naming `what` (and `diag()`, what the lab looked like then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{diag()}".rstrip())
        time.sleep(interval_s)
