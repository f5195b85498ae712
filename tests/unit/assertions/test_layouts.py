"""ESXi log line layouts: every sample line parses; each layout family splits header and body correctly."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.assertions.catalog import events_from_lines
from faultlab.assertions.layouts import kind_from_filename, parse_line
from faultlab.assertions.model import LogKind, LogLine

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "log-samples"  # verbatim copy of reference/


def sample_raws() -> list[tuple[str, int, str]]:
    out = []
    for p in sorted(SAMPLES.glob("*.txt")):
        for no, raw in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if raw.strip() and not raw.startswith("#"):
                out.append((p.name, no, raw))
    return out


def test_every_sample_line_parses_and_only_headerless_lines_are_not_ok() -> None:
    not_ok = []
    for name, no, raw in sample_raws():
        kind = kind_from_filename(name)
        assert kind is not None, name
        line = parse_line(raw, kind, file=name, line_no=no)
        assert (line.file, line.line_no, line.kind, line.raw) == (name, no, kind, raw)
        if line.ok:
            assert line.problem is None
            assert line.time is not None or line.masked or line.layout in {"psod", "uptime", "no-timestamp",
                                                                           "date-only"}  # fmt: skip
        else:
            assert line.problem and line.body == raw
            not_ok.append(raw)
    # the only lines without a recognisable header: PSOD/console text and prose copied from KBs
    assert not_ok == [
        "**CRITICAL**: Lost access to boot device 'eui.xxxxxxx - All paths are down.",
        "Module(s) involved in panic: [bootdevmon Built on:...]",
        "Lost access to volume <GUID> (DS1234) due to connectivity issues. Recovery attempt is in progress and"
        " outcome will be reported...",
        "Lost heartbeat",
        "PANIC: LWD: Failure to quiesce IOs on disk... after failure to read or write snapshot data",
        "019-03-14T12:03:04.445Z| vmx| I125: TOOLS state change 3 returned status 1",
    ]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("vmkernel.log", LogKind.VMKERNEL),
        ("var/run/log/vmkernel.3.gz", LogKind.VMKERNEL),
        ("vmkwarning.log", LogKind.VMKERNEL),
        ("vmkalert.0.gz", LogKind.VMKERNEL),
        ("vmkernel.log.txt", LogKind.VMKERNEL),
        ("vobd.log", LogKind.VOBD),
        ("vobd.0.gz", LogKind.VOBD),
        ("vobd.log.txt", LogKind.VOBD),
        ("hostd.log", LogKind.HOSTD),
        ("hostd.7.gz", LogKind.HOSTD),
        ("hostd.log.txt", LogKind.HOSTD),
        ("/vmfs/volumes/ds1/win01/vmware.log", LogKind.VMWARE),
        ("vmware-3.log", LogKind.VMWARE),
        ("vmware.log.txt", LogKind.VMWARE),
        ("vmksummary.log", LogKind.VMKSUMMARY),
        ("vmksummary.txt", LogKind.VMKSUMMARY),
        ("vmksummary.2.gz", LogKind.VMKSUMMARY),
        ("messages", LogKind.OTHER),
        ("syslog.log", LogKind.OTHER),
        ("fdm.log", LogKind.OTHER),
        ("hostd-probe.log", LogKind.OTHER),
        ("other.txt", LogKind.OTHER),
        ("win01.vmx", None),
        ("win01-flat.vmdk", None),
        ("bundle.tgz", None),
        ("", None),
    ],
)
def test_kind_from_filename(name: str, kind: LogKind | None) -> None:
    assert kind_from_filename(name) is kind


def p(raw: str, kind: LogKind, **kw: Any) -> LogLine:
    return parse_line(raw, kind, **kw)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def test_vmkernel_esxi5_7() -> None:
    ln = p("2018-07-06T21:02:01.202Z cpu28:66292)WARNING: iscsi_vmk: iscsivmk_StopConnection: x", LogKind.VMKERNEL)
    assert ln.ok and ln.layout == "esxi5-7" and not ln.masked
    assert ln.time == utc(2018, 7, 6, 21, 2, 1, 202000)
    assert ln.severity == "WARNING" and ln.pid == "66292" and ln.program == "vmkernel"
    assert ln.body == "WARNING: iscsi_vmk: iscsivmk_StopConnection: x"
    op = p("2025-01-20T16:36:35.796Z cpu63:2099984 opID=be121f44)SchedVsi: 2208: Group", LogKind.VMKERNEL)
    assert op.body == "SchedVsi: 2208: Group" and op.severity is None


def test_vmkernel_esxi8_and_vmkwarning_vmkalert() -> None:
    ln = p("2025-01-20T16:36:35.796Z In(182) vmkernel: cpu63:2099984 opID=be121f44)SchedVsi: 2208: x", LogKind.VMKERNEL)
    assert (ln.layout, ln.severity, ln.program, ln.pid, ln.body) == ("esxi8", "In", "vmkernel", "2099984",
                                                                     "SchedVsi: 2208: x")  # fmt: skip
    wa = p("2025-01-20T16:36:19.937Z Wa(180) vmkwarning: cpu68:2098009)WARNING: HBX: 2723: Failed", LogKind.VMKERNEL)
    assert (wa.severity, wa.program, wa.body) == ("Wa", "vmkwarning", "WARNING: HBX: 2723: Failed")
    al = p("2025-01-20T01:44:25.919Z Al(177) vmkalert: cpu66:2097709)ALERT: <NMLX_ERR> x", LogKind.VMKERNEL)
    assert (al.severity, al.body) == ("Al", "ALERT: <NMLX_ERR> x")


def test_vmkernel_esx_classic_syslog_with_uptime() -> None:
    ln = p("Mar 1 08:53:36 host.com vmkernel: 2:16:49:12.573 cpu3:4099)ScsiDeviceIO: 1672: Command", LogKind.VMKERNEL,
           year=2012)  # fmt: skip
    assert ln.ok and ln.layout == "esx-syslog" and ln.time == utc(2012, 3, 1, 8, 53, 36)
    assert (ln.host, ln.program, ln.pid, ln.body) == ("host.com", "vmkernel", "4099", "ScsiDeviceIO: 1672: Command")
    nohost = p("Aug 15 06:07:13 vmkernel: 1:23:46:11.099 cpu13:882014)WARNING: NMP: x", LogKind.VMKERNEL, year=2012)
    assert nohost.host == "" and nohost.body == "WARNING: NMP: x" and nohost.severity == "WARNING"
    # the caller's host wins over the syslog host field
    assert p("Oct  5 13:13:36 esx02 vmkernel: 38:20:29:34.025 cpu3:1305)NFSLock: x", LogKind.VMKERNEL,
             host="esxA").host == "esxA"  # fmt: skip


def test_classic_syslog_year_defaults_to_current_utc_year() -> None:
    ln = p("Jan  2 03:04:05 esx vmkernel: 0:00:00:01.000 cpu0:1)x", LogKind.VMKERNEL)
    assert ln.time is not None and ln.time.year == datetime.now(UTC).year


def test_classic_syslog_rolls_into_the_new_year() -> None:
    dec = p("Dec 31 23:59:59 esx vmkernel: 0:00:00:01.000 cpu0:1)x", LogKind.VMKERNEL, year=2011)
    jan = p("Jan  1 00:00:01 esx vmkernel: 0:00:00:03.000 cpu0:1)y", LogKind.VMKERNEL, year=2011, prev=dec)
    feb = p("Feb  2 00:00:01 esx vmkernel: 0:00:00:03.000 cpu0:1)z", LogKind.VMKERNEL, year=2011, prev=jan)
    assert (dec.time, jan.time, feb.time) == (utc(2011, 12, 31, 23, 59, 59), utc(2012, 1, 1, 0, 0, 1),
                                              utc(2012, 2, 2, 0, 0, 1))  # fmt: skip
    # lines a little out of order stay in their year; epoch lines keep their exact time
    back = p("Dec 31 23:59:58 esx vmkernel: 0:00:00:01.000 cpu0:1)x", LogKind.VMKERNEL, year=2011, prev=dec)
    assert back.time == utc(2011, 12, 31, 23, 59, 58)
    ep = p("Mar 9 10:24:42 h vmkhalt: (1268148282) Rebooting system...", LogKind.VMKSUMMARY, year=2011, prev=dec)
    assert ep.time == datetime.fromtimestamp(1268148282, tz=UTC)


def test_psod_console_text() -> None:
    bs = p("@BlueScreen: Lost heartbeat", LogKind.VMKERNEL)
    assert bs.ok and bs.layout == "psod" and bs.body == "@BlueScreen: Lost heartbeat" and bs.time is None
    assert p("VMK uptime: 42:14:03:58.308 TSC: 11010722567976450", LogKind.VMKERNEL).layout == "psod"
    up = p("    42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd)", LogKind.VMKERNEL)
    assert up.ok and up.layout == "uptime" and up.time_text == "42:14:02:29.347" and up.pid == "1024"
    assert up.body.startswith("VMNIX: ALERT: HB: 365")


def test_vobd_layouts() -> None:
    v7 = p("2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] x",
           LogKind.VOBD)  # fmt: skip
    assert v7.layout == "esxi5-7" and v7.time == utc(2012, 5, 22, 7, 2, 4, 680000)
    assert v7.body.startswith("[scsiCorrelator] 1680920122975us:")
    v8 = p("2025-03-01T10:11:12.737Z In(14) vobd[2097521]:  [UserLevelCorrelator] 101us: [vob.user.x] y", LogKind.VOBD)
    assert (v8.layout, v8.severity, v8.program, v8.pid) == ("esxi8", "In", "vobd", "2097521")
    assert v8.body == "[UserLevelCorrelator] 101us: [vob.user.x] y"
    v4 = p("Aug 15 06:07:13 vobd: Aug 15 06:07:13.285: 171974745962us:  Lost connectivity", LogKind.VOBD, year=2012)
    assert v4.layout == "esx-syslog" and v4.time == utc(2012, 8, 15, 6, 7, 13, 285000)
    assert v4.body == "171974745962us:  Lost connectivity"
    nots = p("vobd[2098532]  [vmfsCorrelator] 14807596740549us: [vob.vmfs.heartbeat.recovered] x", LogKind.VOBD)
    assert nots.ok and nots.layout == "no-timestamp" and nots.pid == "2098532"
    assert nots.body.startswith("[vmfsCorrelator]") and nots.time is None


def test_hostd_layouts() -> None:
    h7 = p("2018-07-06T21:02:11.204Z info hostd[B781B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3026 : x",
           LogKind.HOSTD)  # fmt: skip
    assert (h7.layout, h7.severity, h7.program, h7.pid) == ("esxi5-7", "info", "hostd", "B781B70")
    assert h7.body == "[Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3026 : x"
    h8 = p("2024-03-26T04:31:17.959Z In(166) Hostd[2098914]: [Originator@6876 sub=Libs opID=5] notFound(403)",
           LogKind.HOSTD)  # fmt: skip
    assert (h8.layout, h8.severity, h8.program, h8.pid) == ("esxi8", "In", "Hostd", "2098914")
    assert h8.body == "[Originator@6876 sub=Libs opID=5] notFound(403)"
    h4 = p("Apr 7 17:39:16 esx_host Hostd: [2012-04-07 17:39:16.938 FFCFEE80 warning 'HostsvcPlugin'] Unable x",
           LogKind.HOSTD)  # fmt: skip
    assert h4.time == utc(2012, 4, 7, 17, 39, 16, 938000) and h4.severity == "warning"
    assert (h4.program, h4.pid, h4.body, h4.host) == ("HostsvcPlugin", "FFCFEE80", "Unable x", "esx_host")
    h55 = p("2013-01-02T03:04:05.678Z [2B8C0B70 info 'Hostsvc.VmkVprobSource' opID=abc] VmkVprobSource::Post x",
            LogKind.HOSTD)  # fmt: skip
    assert (h55.layout, h55.severity, h55.program, h55.pid) == ("esxi5-7", "info", "Hostsvc.VmkVprobSource",
                                                                "2B8C0B70")  # fmt: skip
    assert h55.body == "VmkVprobSource::Post x" and h55.time == utc(2013, 1, 2, 3, 4, 5, 678000)
    h5 = p("[2013-01-02 03:04:05.678 2BC40B90 info 'ha-eventmgr' opID=abc] Event 1 : x", LogKind.HOSTD)
    assert h5.ok and h5.layout == "hostd4" and h5.time == utc(2013, 1, 2, 3, 4, 5, 678000) and h5.body == "Event 1 : x"


def test_hostd_continuation_takes_previous_time() -> None:
    first = p("2020-01-01T00:00:01.000Z info hostd[1] [Originator@6876 sub=X] Fault:", LogKind.HOSTD)
    cont = p("--> (vmodl.fault.SystemError) {", LogKind.HOSTD, prev=first)
    assert cont.ok and cont.continuation and cont.layout == "continuation"
    assert cont.time == first.time and cont.body == "(vmodl.fault.SystemError) {" and cont.program == "hostd"


def test_syslog_forwarded_pri() -> None:
    ln = p("<167>2017-10-01T02:20:54.492Z hp.kar.int Hostd: verbose hostd[B903B70] [Originator@6876 sub=P] Rec",
           LogKind.HOSTD)  # fmt: skip
    assert ln.ok and ln.layout == "syslog-forwarded" and ln.host == "hp.kar.int"
    assert (ln.severity, ln.program, ln.pid, ln.body) == ("verbose", "hostd", "B903B70", "[Originator@6876 sub=P] Rec")
    assert ln.time == utc(2017, 10, 1, 2, 20, 54, 492000)
    v8 = p("<182>2024-01-01T00:00:00.000Z In(182) vmkernel: cpu1:2)NFS: 340: x", LogKind.VMKERNEL)
    assert v8.ok and v8.layout == "syslog-forwarded" and v8.body == "NFS: 340: x"


def test_vmware_log_layouts() -> None:
    v7 = p("2019-03-14T12:03:04.445Z| vmx| I125: Tools: Changing running status: 2 => 1.", LogKind.VMWARE)
    assert (v7.layout, v7.severity, v7.program, v7.body) == ("esxi5-7", "I125", "vmx",
                                                             "Tools: Changing running status: 2 => 1.")  # fmt: skip
    v8 = p("2023-12-05T17:42:40.741Z In(05) vcpu-0 - SnapshotVMXTakeSnapshotWork: x", LogKind.VMWARE)
    assert (v8.layout, v8.severity, v8.program, v8.body) == ("esxi8", "In", "vcpu-0", "SnapshotVMXTakeSnapshotWork: x")
    op = p("2023-12-05T17:42:40.680Z In(05) vcpu-0 vim-cmd-09-a45d MainMem: Writing", LogKind.VMWARE)
    assert op.body == "MainMem: Writing"
    cont = p("[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -", LogKind.VMWARE)
    assert cont.ok and cont.continuation and cont.masked and cont.body == "" and cont.severity == "Wa"
    nosev = p("YYYY-MM-DDTHH:MM:SS.XXXZ vcpu-0 - WinBSOD: Synthetic MSR[0x40000100] 0x80", LogKind.VMWARE)
    assert nosev.ok and nosev.masked and nosev.program == "vcpu-0"
    assert nosev.body == "WinBSOD: Synthetic MSR[0x40000100] 0x80"


def test_vmksummary_layouts() -> None:
    hb = p("2025-09-18T01:00:00.360Z heartbeat[14118500]: up 22d1h40m22s, 10 VMs; [[1 vmx 2kB]] []", LogKind.VMKSUMMARY)
    assert (hb.program, hb.pid, hb.body[:14]) == ("heartbeat", "14118500", "up 22d1h40m22s")
    bs = p("2011-08-30T04:00:01Z bootstop: Host is rebooting", LogKind.VMKSUMMARY)
    assert bs.time == utc(2011, 8, 30, 4, 0, 1) and bs.program == "bootstop" and bs.body == "Host is rebooting"
    # ESX 3/4: the epoch in parentheses is exact and has a year; the syslog stamp is local time
    ep = p("Mar 9 10:24:42 localhost vmkhalt: (1268148282) Rebooting system...", LogKind.VMKSUMMARY, year=1999)
    assert ep.time == datetime.fromtimestamp(1268148282, tz=UTC)
    assert ep.body == "(1268148282) Rebooting system..." and ep.program == "vmkhalt"


@pytest.mark.parametrize(
    ("raw", "body_start"),
    [
        ("YYYY-MM-DDTHH:MM:SS.###Z cpu0:2097360)WARNING: ScsiPath: 6506: x", "WARNING: ScsiPath"),
        ("2025-MM-DDThh:mm:ss.630Z cpu0:262792)Jumpstart plugin swapobjd activated.", "Jumpstart"),
        ("YYYY-MM-DDTHH:MM:SS.###Z: [APDCorrelator] 1960326656825us: [vob.storage.apd.start] x", "[APDCorrelator]"),
        ("YYYY-MM-DDTHH:MM:SS In(182) vmkernel: cpu12:2097611)nfnic: <1>: INFO", "nfnic: <1>"),
        ("YYYY-MM-DDTHH:MM:SSZ info fdm[PID] [Originator@6876 sub=Invt] Host", "[Originator@6876 sub=Invt]"),
        ("YYYY-MM-DDTHH:MM:SS.XXXZ Hostd[#####]: Guest operating system crash detected.", "Guest operating"),
        ("2025-MM-DDThh:mm:ss.266Z error hostd[265267] [Originator@6876 sub=Default] Ipmi", "[Originator@6876"),
        ("[YYYY-MM-DDTHH:MM:SS] warning hostd[2104418] [Originator@6876 sub=IoTracker] In", "[Originator@6876"),
        ("[YYYY-MM-DDTHH:MM:SS] cpu71:2098688)DOM: DOMOwner_SetLivenessState:7358: Object", "DOM: DOMOwner"),
        ("[YYYY-MM-DDTHH:MM:SS] In(14) vobd[2097765]: [APDCorrelator] ##############: [esx.p", "[APDCorrelator]"),
        ("[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######0] 0xef", "WinBSOD:"),
    ],
)
def test_masked_timestamps(raw: str, body_start: str) -> None:
    kind = LogKind.VMWARE if "vcpu" in raw else LogKind.OTHER
    ln = p(raw, kind)
    assert ln.ok and ln.masked and ln.time is None and ln.time_text
    assert ln.body.startswith(body_start)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("019-03-14T12:03:04.445Z| vmx| I125: TOOLS state change 3 returned status 1", "truncated timestamp"),
        ("", "empty line"),
        ("just some prose", "unrecognised header"),
        ("2024-13-01T00:00:00.000Z cpu0:1)x", "impossible timestamp"),
        ("2024-01-01T25:00:00.000Z cpu0:1)x", "impossible timestamp"),
        ("[9999-99-99T99:99:99] cpu0:1)x", "impossible timestamp"),
        ("Feb 30 10:00:00 esx vmkernel: x", "impossible timestamp"),
        ("0001-01-01T00:00:00.000+05:00 cpu0:1)x", "impossible timestamp"),
        ("[not a header] x", "unrecognised bracketed header"),
    ],
)
def test_bad_lines_are_kept_with_a_problem(raw: str, problem: str) -> None:
    ln = p(raw, LogKind.VMKERNEL, line_no=7)
    assert not ln.ok and ln.problem == problem and ln.line_no == 7
    assert ln.raw == raw and (ln.body == raw or ln.body in raw)
    assert ln.time is None


def test_leap_second_is_kept_in_order() -> None:
    ln = p("2016-12-31T23:59:60.500Z cpu0:1)x", LogKind.VMKERNEL)
    assert ln.ok and ln.time == utc(2016, 12, 31, 23, 59, 59, 999999)


def test_timezone_offset_is_converted_to_utc() -> None:
    ln = p("2024-01-01T02:00:00.000+02:00 cpu0:1)x", LogKind.VMKERNEL)
    assert ln.time == utc(2024, 1, 1, 0, 0, 0)


@pytest.mark.parametrize("ending", ["\r\n", "\r", "\n"])
def test_line_endings_are_stripped(ending: str) -> None:
    ln = p("2018-07-06T21:02:11.204Z cpu0:65641)HBX: 6214: x" + ending, LogKind.VMKERNEL)
    assert ln.raw.endswith("x") and ln.body == "HBX: 6214: x"


def test_undecodable_bytes() -> None:
    raw = b"2018-07-06T21:02:11.204Z cpu0:65641)HBX: \xff\xfe\x00 bad".decode("utf-8", errors="replace")
    ln = p(raw, LogKind.VMKERNEL)
    assert ln.ok and "\ufffd" in ln.body
    garbage = bytes(range(256)).decode("utf-8", errors="replace")
    g = p(garbage, LogKind.HOSTD)
    assert not g.ok and g.body


def test_parse_speed() -> None:
    raws = [raw for _, _, raw in sample_raws()]
    t0 = time.perf_counter()
    for _ in range(20):
        for raw in raws:
            parse_line(raw, LogKind.VMKERNEL)
    per_line_us = (time.perf_counter() - t0) / (20 * len(raws)) * 1e6
    assert per_line_us < 50, per_line_us


# ---------------------------------------------------------------------------------------------------
# Issue 12 item 5: KB placeholders are masked times; year-less stamps take their year from context

# VMware KB 1008130 (ESX 3.5), as copied by vmwaretips.com 2009/01/12: the KB's own placeholders
KB1008130 = (
    "<date and time> <hostname> vmkernel: 31:19:32:29.224 cpu1:3961)StorageMonitor: 196: vmhba0:0:0:0 status = "
    "0/5 0x0 0x0 0x0"
)


@pytest.mark.parametrize(
    ("raw", "kind", "program", "body"),
    [
        (KB1008130, LogKind.VMKERNEL, "vmkernel", "StorageMonitor: 196: vmhba0:0:0:0 status = 0/5 0x0 0x0 0x0"),
        # the same KB's "<date and time> <hostname> last message repeated 31 times"
        ("<date and time> <hostname> last message repeated 31 times", LogKind.VMKERNEL, None, None),
        # issue 12's "<YYYY-MM-DD>T<TIME>" placeholder in front of a real ESXi 5.x vmkernel line (vmkernel.log.txt:20)
        ("<YYYY-MM-DD>T<TIME>Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
         "set to APD_START; token num:1", LogKind.VMKERNEL, "vmkernel", "ScsiDevice: 4993: Device state of "
         "naa.60014055c425cd10a874374b415629b3 set to APD_START; token num:1"),
        # KB 2004566 (ESXi 5.x vmksummary format, virtualization24x7 blog copy): lower-case mask
        ("yyyy-mm-ddThh:mm:ssZ bootstop: Host has booted", LogKind.VMKSUMMARY, "bootstop", "Host has booted"),
    ],
)  # fmt: skip
def test_kb_placeholder_times_are_masked(raw: str, kind: LogKind, program: str | None, body: str | None) -> None:
    ln = p(raw, kind)
    assert ln.ok and ln.masked and ln.time is None, ln
    assert ln.problem is None
    if program is not None:
        assert (ln.program, ln.body) == (program, body)


def test_syslog_priority_is_not_a_placeholder() -> None:
    # reference/log-samples/hostd.log.txt:61 (elatov, ESXi 6.5 hostd over syslog)
    raw = (
        "<167>2017-10-01T02:20:54.492Z hp.kar.int Hostd: verbose hostd[B903B70] [Originator@6876 "
        "sub=PropertyProvider] RecordOp ASSIGN: guest.disk, 4. Sent notification immediately."
    )
    ln = p(raw, LogKind.HOSTD)
    assert not ln.masked and ln.time == datetime(2017, 10, 1, 2, 20, 54, 492000, tzinfo=UTC)


def test_kb_lines_without_their_time_keep_the_vmkernel_header() -> None:
    # VMware KB 2144657, as quoted by opvizor 2016-02-23: the KB leaves the time out
    raw = (
        "cpu6:32909)WARNING: NMP: nmp_PathDetermineFailure:2961: Cmd (0x2a) PDL error (0x5/0x25/0x0) - path "
        "vmhba2:C0:T5:L2 device naa.514f0c5ec2000008 - triggering path evaluation"
    )
    ln = p(raw, LogKind.VMKERNEL)
    assert ln.ok and ln.layout == "no-timestamp" and ln.pid == "32909" and ln.severity == "WARNING"
    assert ln.body.startswith("WARNING: NMP: nmp_PathDetermineFailure")


def test_yearless_stamp_takes_the_year_of_the_line_before() -> None:
    """ESX 4 /var/log/messages: the logger line's epoch has a year (vmksummary.txt:31, KB 1019238, 2010); the
    vmkernel line after it (vmkernel.log.txt:115, another ESX 4 host) has none and takes 2010."""
    epoch_line = p("Mar 9 10:26:47 localhost logger: (1268148407) loaded VMkernel", LogKind.OTHER)
    assert epoch_line.time is not None and epoch_line.time.year == 2010 and not epoch_line.year_inferred
    raw = (
        "Oct  5 13:13:36 esx02 vmkernel: 38:20:29:34.025 cpu3:1305)WARNING: NFSLock: 1883: disk is being locked "
        "by other consumer"
    )
    ln = p(raw, LogKind.OTHER, prev=epoch_line, year=2026)
    assert ln.time == datetime(2010, 10, 5, 13, 13, 36, tzinfo=UTC) and ln.year_inferred
    # at New Year the year moves on: "Jan  2" after a December line
    dec = p("Dec 31 23:59:59 esx02 vmkernel: 38:20:29:34.025 cpu3:1305)x", LogKind.OTHER, prev=epoch_line)
    jan = p("Jan  2 00:00:01 esx02 vmkernel: 38:20:29:34.025 cpu3:1305)x", LogKind.OTHER, prev=dec)
    assert dec.time is not None and jan.time is not None and jan.time.year == dec.time.year + 1 == 2011


def test_yearless_stamp_without_context_is_never_in_the_future() -> None:
    now = datetime.now(UTC)
    for month_day in ("Jan  1", "Dec 31", f"{now:%b} {now.day:2d}"):
        ln = p(f"{month_day} 00:00:00 esx02 vmkernel: 38:20:29:34.025 cpu3:1305)x", LogKind.OTHER)
        assert ln.time is not None and ln.year_inferred
        assert ln.time <= now + timedelta(days=1) and ln.time > now - timedelta(days=366)


def test_event_json_says_the_year_was_inferred() -> None:
    # elatov/elatov.github.io 2012/11 "VMs are Slow to Boot from an HP MSA 2000 Array" (ESX 3.5)
    esx35 = (
        "Nov 14 01:15:37 esx vmkernel: 0:02:09:02.494 cpu3:1043)FS3: 4831: Reclaimed timed out heartbeat [HB "
        "state abcdef02 offset 3159552 gen 174 stamp 7738206575 uuid 50a2d28e-497dcab4-7e86-001b78bbdd58 jrnl "
        "<FB 121075> drv 4.31]"
    )
    # reference/log-samples/vmkernel.log.txt:68 (ISO stamp: the year is in the line)
    esxi5 = (
        "2012-11-12T13:23:57.368Z cpu11:4132)HBX: 231: Reclaimed heartbeat for volume "
        "503f6831-a50ea3f0-bc4c-5ef3fcc3abc7 (LUN301): [Timeout]"
    )
    (old,) = events_from_lines([p(esx35, LogKind.VMKERNEL, year=2012)])
    (new,) = events_from_lines([p(esxi5, LogKind.VMKERNEL)])
    assert old.to_json()["year_inferred"] is True and new.to_json()["year_inferred"] is False
