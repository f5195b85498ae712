"""`expect.diagnosis`: a scenario requires a KB diagnosis of its run's own events (real KB 308590 lines)."""

from __future__ import annotations

import io

import pytest

from faultlab.assertions.checks import Verdict
from faultlab.assertions.model import Event, LogKind
from faultlab.assertions.scan import scan_stream
from faultlab.harness.judge import diagnosis_checks
from faultlab.harness.scenario import parse_scenario
from faultlab.lab.errors import ConfigError

# KB 308590, verbatim: two hourly samples of a growing VMap, then a start with no halt line; the PSOD lines.
KB_VMKSUMMARY = (
    b"Nov 13 03:01:35 esxhostname logger: (1258099291) hb: vmk loaded, 11795301.25, 11795288.970, 73, 153875, "
    b"153875, 567468032, VMap-583524, vmware-h-82812, webAcces-27332\n"
    b"Nov 13 04:01:45 esxhostname logger: (1258102905) hb: vmk loaded, 11798915.64, 11798902.253, 73, 153875, "
    b"153875, 567468032, VMap-586196, vmware-h-83180, webAcces-27292\n"
    b"Nov 13 07:13:58 esxhostname vmkhalt: (1258114439) Starting system...\n"
)
KB_VMKERNEL = (
    b"42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 clt=1).\n"
    b"42:14:03:29.341 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=VMap pid=9173 t=30 to=30 clt=1).\n"
    b"42:14:03:29.508 cpu0:1024)Host: 4781: COS Error: Lost heartbeat\n"
    b"@BlueScreen: Lost heartbeat\n"
)


def _events(with_psod: bool = True) -> list[Event]:

    out, _ = scan_stream(io.BytesIO(KB_VMKSUMMARY), kind=LogKind.VMKSUMMARY, name="vmksummary", host="esxhostname")
    if with_psod:
        more, _ = scan_stream(io.BytesIO(KB_VMKERNEL), kind=LogKind.VMKERNEL, name="vmkernel", host="esxhostname")
        out += more
    return out


def _scenario(diagnosis: str) -> str:
    return (
        "name: lost-heartbeat-diag\nstory: test\ntarget: {host: esx01}\nfault: {kind: service-stop, on: nfs01}\n"
        f"hold: 1s\nexpect:\n  diagnosis: {diagnosis}\n"
    )


def test_kb308590_diagnosis_expected_and_reached() -> None:
    sc = parse_scenario(_scenario("{kb: 308590, verdict: true, culprit: VMap}"))
    [(name, check)] = diagnosis_checks(sc, _events())
    result = check()
    assert name == "diagnosis KB 308590" and result.verdict is Verdict.TRUE, result.message


def test_wrong_culprit_fails_saying_what_triage_said() -> None:
    sc = parse_scenario(_scenario("{kb: 308590, culprit: cimserver}"))
    result = diagnosis_checks(sc, _events())[0][1]()
    assert result.verdict is Verdict.FALSE
    assert "expected verdict true, culprit cimserver" in result.message and "culprit VMap" in result.message


def test_no_psod_no_true_diagnosis() -> None:
    sc = parse_scenario(_scenario("{kb: 308590, verdict: true}"))
    result = diagnosis_checks(sc, _events(with_psod=False))[0][1]()
    assert result.verdict is Verdict.FALSE


def test_culprit_from_the_fault_section() -> None:
    sc = parse_scenario(_scenario("{kb: 308590, culprit: $fault.on}"))  # service-stop has no process: `on` stands in
    result = diagnosis_checks(sc, _events())[0][1]()
    assert result.verdict is Verdict.FALSE and "culprit nfs01" in result.message


def test_bad_diagnosis_key_names_it() -> None:
    with pytest.raises(ConfigError) as err:
        parse_scenario(_scenario("{kb: 308590, verdikt: true}"))
    assert "verdikt" in str(err.value)
