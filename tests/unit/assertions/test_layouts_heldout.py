"""Header forms first met in the held-out published logs (tests/fixtures/log-heldout/): each rule is a general one
about the format (a KB leaving the time out, a paste cutting a line's start), tested on those verbatim lines."""

# ruff: noqa: E501  (verbatim log lines)
from __future__ import annotations

import pytest

from faultlab.assertions.catalog import EventBuilder
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import LogKind
from faultlab.assertions.sources import judge_content

KB1027963 = 'vmkernel: 188:04:24:16.970 cpu8:4288)WARNING: iscsi_vmk: iscsivmk_StopConnection: vmhba33:CH:0 T:1 CN:0: iSCSI connection is being marked "OFFLINE"'
KB432676_VMK = "In(182) vmkernel: cpu93:2098107)nfnic: <1>: INFO: fnic_fdls_link_status_change: 98: fnic1: FDLS link status change link up:0, usefip:0"
KB432676_VOB = "[scsiCorrelator] 17284358534073us: [vob.scsi.scsipath.pathstate.deadver2] scsiPath vmhba2:C0:T19:L1 changed state from on"
PSOD_CUT = ") - possible deadlock10Z cpu2:1075473)@BlueScreen: Spin count exceeded (!\u00e4-4\u00f1 "
ESX4_DAY = "Mar 6 17:31:16 ESX01 vmkernel: 15:07:33:10.284 cpu2:4245)WARNING: LinNet: netdev_watchdog: NETDEV WATCHDOG: vmnic3: transmit timed out"


def _events(raw: str, kind: LogKind) -> list[tuple[str, str | None]]:
    builder = EventBuilder()
    ln = parse_line(raw, kind, file="f", line_no=1)
    return [(e.name, e.subject) for e in builder.feed(ln)]


def test_a_daemon_tag_without_its_syslog_date_keeps_the_uptime_and_world() -> None:
    """KB 1027963 prints ESX 4 vmkernel lines from `vmkernel:` on: the uptime stamp and world are read, the body
    is the message, as for the same line with its date."""
    ln = parse_line(KB1027963, LogKind.VMKERNEL)
    assert (ln.ok, ln.layout, ln.program, ln.pid, ln.time_text, ln.severity) == (
        True,
        "no-timestamp",
        "vmkernel",
        "4288",
        "188:04:24:16.970",
        "WARNING",
    )
    assert ln.body.startswith("WARNING: iscsi_vmk: iscsivmk_StopConnection:")
    assert _events(KB1027963, LogKind.VMKERNEL) == [("iscsi.connection.offline", "vmhba33")]


def test_an_esxi8_severity_header_without_its_time() -> None:
    ln = parse_line(KB432676_VMK, LogKind.VMKERNEL)
    assert (ln.ok, ln.layout, ln.severity, ln.program, ln.pid) == (True, "no-timestamp", "In", "vmkernel", "2098107")
    assert ln.body.startswith("nfnic: <1>: INFO: fnic_fdls_link_status_change")


def test_a_vobd_correlator_line_without_its_time_is_a_vob() -> None:
    """Reported (no time to place it by, as for a line cut at the front) and read: its vob id is whole."""
    ln = parse_line(KB432676_VOB, LogKind.VOBD)
    assert (ln.ok, ln.layout, ln.program, ln.body) == (False, "no-timestamp", "vobd", KB432676_VOB)
    assert ln.problem == "vobd line without its time stamp"
    assert _events(KB432676_VOB, LogKind.VOBD) == [("path.dead", "vmhba2:C0:T19:L1")]


def test_a_line_that_lost_its_start_is_read_from_its_vmkernel_prefix_and_reported() -> None:
    """A paste cut the time stamp in half: the line is odd (reported), but the message after `cpuN:WORLD)` is
    still the PSOD's, so the event is not lost."""
    ln = parse_line(PSOD_CUT, LogKind.VMKERNEL)
    assert not ln.ok and ln.layout == "cut" and ln.problem is not None and "no header at the line's start" in ln.problem
    assert ln.raw == PSOD_CUT and ln.body.startswith("@BlueScreen: Spin count exceeded")
    assert [n for n, _ in _events(PSOD_CUT, LogKind.VMKERNEL)] == ["host.psod"]


@pytest.mark.parametrize(
    "raw",
    [
        "see cpu2 (the second CPU) for details",
        "WARNING: VMW_SATP_ALUA: satp_alua_getTargetPortInfo:190: Could not get page 83",
    ],
)
def test_text_without_a_world_prefix_stays_unrecognised(raw: str) -> None:
    ln = parse_line(raw, LogKind.VMKERNEL)
    assert (ln.ok, ln.layout, ln.body) == (False, "unknown", raw)


def test_markup_before_a_vmkernel_line_is_reported_and_the_message_kept() -> None:
    raw = "<strong>2011-07-25T17:19:46.955Z cpu2:2845)ScsiScan: 1582: Add path: vmhba37:C1:T0:L0</strong>"
    ln = parse_line(raw, LogKind.VMKERNEL)
    assert (ln.ok, ln.layout, ln.pid, ln.body) == (
        False,
        "cut",
        "2845",
        "ScsiScan: 1582: Add path: vmhba37:C1:T0:L0</strong>",
    )


def test_a_vmx_line_without_its_time() -> None:
    """KB 2149941 prints vmware.log lines from the thread name on."""
    ln = parse_line("vcpu-0| E105: PANIC: MXUserAllocSerialNumber: too many locks!", LogKind.VMWARE)
    assert (ln.ok, ln.layout, ln.program, ln.severity, ln.body) == (
        True,
        "no-timestamp",
        "vcpu-0",
        "E105",
        "PANIC: MXUserAllocSerialNumber: too many locks!",
    )
    assert _events("vcpu-0| I125: CPU reset: soft (mode Emulation)", LogKind.VMWARE) == [("guest.reset", None)]


def test_classic_syslog_with_an_unpadded_day() -> None:
    ln = parse_line(ESX4_DAY, LogKind.VMKERNEL, year=2011)
    assert ln.ok and ln.layout == "esx-syslog" and ln.time is not None and (ln.time.month, ln.time.day) == (3, 6)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (ESX4_DAY, LogKind.VMKERNEL),
        (KB1027963, LogKind.VMKERNEL),
        (KB432676_VMK, LogKind.VMKERNEL),
        (KB432676_VOB, LogKind.VOBD),
    ],
)
def test_files_of_such_lines_are_logs_by_their_content(head: str, kind: LogKind) -> None:
    assert judge_content(((head + "\n") * 3).encode()) == (kind, "")


def test_prose_about_logs_is_still_not_a_log() -> None:
    kind, why = judge_content(b"Symptoms: the host logs In(182) messages.\nSee vmkernel: for details.\nNo fix.\n")
    assert kind is None and why.startswith("not a log")
