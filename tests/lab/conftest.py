"""The embedded lab the lab tests share: one fixture, shaped per module (LAB_SHAPE), always taken down.

A module sets `LAB_SHAPE = {"hosts": 1, "vms": 1, "vcenter": False, ...}` (EmbeddedLab.up's keywords) and asks
for `embedded_lab`; tests that run scenarios through the harness use the pytest plugin's `lab` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from faultlab.sim.lab import EmbeddedLab

DEFAULT_SHAPE: dict[str, Any] = {"hosts": 1, "vms": 1}


@pytest.fixture(scope="module")
def embedded_lab(request: pytest.FixtureRequest) -> Iterator[EmbeddedLab]:
    shape = {**DEFAULT_SHAPE, **getattr(request.module, "LAB_SHAPE", {})}
    with EmbeddedLab.up(**shape) as lab:
        yield lab
