"""Unit test: the guest crash event the vCenter shows names the vCenter's datacenter, not the host's."""

from __future__ import annotations

import json
from pathlib import Path

from faultlab.sim.vcenter import bridge


def test_crash_event_names_the_vcenter_datacenter(tmp_path: Path) -> None:
    (tmp_path / "ready.json").write_text(json.dumps({"pid": 1, "datacenter": "faultlab"}))
    datacenter = bridge._datacenter(tmp_path / "control.sock")
    assert datacenter == "faultlab"
    raw = {
        "eventTypeId": "VmGuestOSCrashedEvent",
        "subject": "win01",
        "message": "win01 on esx01 in ha-datacenter: Guest operating system has crashed.",
    }
    known = bridge.Known(frozenset(), frozenset({"win01"}), datacenter)
    event = bridge._event("esx01", raw, known)
    assert event is not None
    assert event.message == "win01 on esx01 in faultlab: Guest operating system has crashed."
    without = bridge._event("esx01", raw, bridge.Known(frozenset(), frozenset({"win01"})))
    assert without is not None and without.message == raw["message"]
    assert bridge._datacenter(tmp_path / "elsewhere" / "control.sock") is None
