"""Signature catalog: hand-labelled sample lines, the two seed KBs, BSOD aggregation, twins, prefilter."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from faultlab.assertions.catalog import (
    GREP_UNION,
    PREFILTER,
    EventBuilder,
    events_from_lines,
    link_twins,
)
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import CATALOG_NAMES, Event, LogKind, LogLine

SAMPLES = Path(__file__).resolve().parents[2] / "fixtures" / "log-samples"  # verbatim copy of reference/
LABELS = Path(__file__).resolve().parents[2] / "fixtures" / "labels"
SEEDS = LABELS  # seed-kb*.txt: verbatim copies of the two seed KB documents
LABEL_FILES = sorted(LABELS.glob("*.yaml"))


def sample_lines(name: str, kind: LogKind) -> list[LogLine]:
    """Parsed non-comment lines of one sample file, keeping the file's own line numbers."""
    out: list[LogLine] = []
    prev = None
    for no, raw in enumerate((SAMPLES / name).read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("#") or not raw.strip():
            continue
        prev = parse_line(raw, kind, file=name, line_no=no, host="esx01", prev=prev)
        out.append(prev)
    return out


def line_of(lines: list[LogLine], needle: str) -> LogLine:
    hits = [ln for ln in lines if needle in ln.raw]
    assert len(hits) == 1, f"label text must match exactly one sample line: {needle!r} -> {len(hits)}"
    return hits[0]


def test_every_sample_file_has_labels() -> None:
    labelled = {yaml.safe_load(p.read_text())["sample"] for p in LABEL_FILES}
    assert labelled == {p.name for p in SAMPLES.glob("*.txt")}


@pytest.mark.parametrize("label_file", LABEL_FILES, ids=[p.stem for p in LABEL_FILES])
def test_labelled_events_and_no_others(label_file: Path) -> None:
    spec = yaml.safe_load(label_file.read_text())
    lines = sample_lines(spec["sample"], LogKind(spec["kind"]))
    events = events_from_lines(lines)
    by_line: dict[int, list[Event]] = {}
    for e in events:
        by_line.setdefault(e.line_no, []).append(e)
    expected_lines: set[int] = set()
    for label in spec["events"]:
        line = line_of(lines, label["line"])
        expected_lines.add(line.line_no)
        found = by_line.get(line.line_no, [])
        assert len(found) == 1, f"{label['line']!r}: expected one event, got {[e.name for e in found]}"
        ev = found[0]
        assert ev.name == label["name"], label["line"]
        assert ev.name in CATALOG_NAMES
        assert ev.host == "esx01" and ev.file == spec["sample"] and ev.raw == line.raw
        assert ev.kind is LogKind(spec["kind"])
        assert json.loads(json.dumps(ev.to_json()))["name"] == ev.name  # fields stay JSON-serialisable
        if "subject" in label:
            assert ev.subject == label["subject"], label["line"]
        if "source_id" in label:
            assert ev.source_id == label["source_id"], label["line"]
        if "time" in label:
            assert ev.time == datetime.fromisoformat(label["time"]), label["line"]
        if label.get("masked"):
            assert ev.time is None and line.masked
        for key, want in label.get("fields", {}).items():
            assert ev.fields.get(key, "<missing>") == want, f"{label['line']!r} field {key}"
        if "twin_of" in label:
            assert ev.twin == (spec["sample"], line_of(lines, label["twin_of"]).line_no)
        else:
            assert ev.twin is None, label["line"]
    unexpected = {no: [e.name for e in evs] for no, evs in by_line.items() if no not in expected_lines}
    assert not unexpected, f"unlabelled lines produced events (false positives): {unexpected}"


# ---------------------------------------------------------------------------------------------------
# The seed KBs


def _seed(article: str) -> list[str]:
    for p in SEEDS.glob("seed-kb*.txt"):
        text = p.read_text(encoding="utf-8")
        if f"Article ID: {article}" in text:
            return text.splitlines()
    raise AssertionError(f"seed KB {article} not found")


def kb392634_events() -> list[Event]:
    """The KB's excerpts, each fed as the log its section names (hostd, vmkernel, vobd, vmware.log)."""
    kinds = {"hostd.log)": LogKind.HOSTD, "vmkernel.log)": LogKind.VMKERNEL, "vobd.log)": LogKind.VOBD,
             "vmware.log)": LogKind.VMWARE}  # fmt: skip
    streams: dict[LogKind, list[LogLine]] = {}
    kind = None
    for no, raw in enumerate(_seed("392634"), 1):
        kind = next((k for key, k in kinds.items() if key in raw), kind)
        if raw.startswith("[YYYY") and kind is not None:
            file = "/vmfs/volumes/ds1/win01/vmware.log" if kind is LogKind.VMWARE else f"{kind.value}.log"
            streams.setdefault(kind, []).append(parse_line(raw, kind, file=file, line_no=no))
    assert set(streams) == set(kinds.values())
    return [e for lines in streams.values() for e in events_from_lines(lines)]


def test_kb392634_excerpts() -> None:
    events = kb392634_events()
    names = sorted(e.name for e in events)
    assert names == sorted(
        ["hostd.slow_io", "hostd.slow_io", "hostd.io_error", "vmfs.heartbeat.reclaimed", "vsan.liveness.lost",
         "vsan.liveness.lost", "apd.start", "nfs.server.restored", "guest.bsod"]
    )  # fmt: skip
    slow = [e.fields["seconds"] for e in events if e.name == "hostd.slow_io"]
    assert slow == [140, 76]
    bsod = next(e for e in events if e.name == "guest.bsod")
    assert bsod.fields["code"] == 0xEF and bsod.fields["name"] == "CRITICAL_PROCESS_DIED"
    assert bsod.fields["params"] == [0xFFFFB5096E266080, 0, 0, 0] and bsod.fields["complete"] is True
    assert bsod.subject == "win01" and bsod.time is None
    assert "Synthetic MSR[0x#######0] 0xef" in bsod.raw
    nfs = next(e for e in events if e.name == "nfs.server.restored")
    assert nfs.fields == {"server": "###.###.#.###", "mount_point": "/<DatastoreName>", "volume": "#-#-#-#",
                          "label": "<Datastore Name>"}  # fmt: skip
    assert nfs.source_id == "vob.vmfs.nfs.server.restored" and nfs.subject == "<Datastore Name>"
    apd = next(e for e in events if e.name == "apd.start")
    assert apd.subject == "#######-#######" and apd.source_id == "esx.problem.storage.apd.start"
    hb = next(e for e in events if e.name == "vmfs.heartbeat.reclaimed")
    assert hb.subject == "########-####-####-############"


def kb308590_events() -> tuple[list[Event], list[Event]]:
    """(PSOD console block as vmkernel text, vmksummary excerpt) events."""
    lines = _seed("308590")
    start = next(i for i, ln in enumerate(lines) if "appears similar to" in ln)
    end = next(i for i, ln in enumerate(lines) if "The cos-core file" in ln)
    psod = [parse_line(raw, LogKind.VMKERNEL, file="console", line_no=no + 1)
            for no, raw in enumerate(lines[start + 1 : end], start + 1) if raw.strip()]  # fmt: skip
    summary = [parse_line(raw, LogKind.VMKSUMMARY, file="vmksummary", line_no=no)
               for no, raw in enumerate(lines, 1) if " logger: " in raw or " vmkhalt: " in raw]  # fmt: skip
    assert len(summary) == 3
    return events_from_lines(psod), events_from_lines(summary)


def test_kb308590_psod_and_heartbeat() -> None:
    psod, _ = kb308590_events()
    assert [e.name for e in psod] == ["host.psod"] + ["host.heartbeat.lost"] * 3
    assert psod[0].fields == {"reason": "Lost heartbeat"}
    lost = [e for e in psod if e.name == "host.heartbeat.lost"]
    assert [e.fields.get("comm") for e in lost] == ["vmnixhbd", "VMap", None]
    assert lost[1].fields == {"comm": "VMap", "pid": 9173, "t": 30, "to": 30, "clt": 1}
    # "COS Error: Lost heartbeat" reports the loss the VMNIX alert above already logged: linked, counted once
    assert lost[2].twin == lost[1].key
    assert sum(1 for e in lost if e.twin is None) == 2


def test_kb308590_vmksummary() -> None:
    _, summary = kb308590_events()
    assert [e.name for e in summary] == ["host.memory.sample", "host.memory.sample", "host.boot"]
    last = summary[1].fields
    assert last["processes"][0] == {"name": "VMap", "id": None, "mem_kb": 586196}
    assert [p["name"] for p in last["processes"]] == ["VMap", "vmware-h", "webAcces"]
    assert last["swap_bytes"] == 567468032 and last["vms"] == 73 and last["format"] == "esx3"
    assert last["uptime_s"] == pytest.approx(11798915.64) and last["epoch"] == 1258102905
    assert summary[1].time == datetime.fromtimestamp(1258102905, tz=UTC)
    assert summary[2].fields["epoch"] == 1258114439  # "Starting system…" with a Unicode ellipsis


# ---------------------------------------------------------------------------------------------------
# Lines from esxi-facts.md that the samples do not contain


def one(raw: str, kind: LogKind, file: str = "f.log") -> Event | None:
    events = events_from_lines([parse_line(raw, kind, file=file, line_no=1)])
    assert len(events) <= 1
    return events[0] if events else None


FACT_LINES: list[tuple[str, LogKind, str, str | None, dict[str, Any]]] = [
        (
            '2012-03-01T10:00:00.000Z cpu2:4096)NFS: 286: Restored connection to server 10.178.250.10 mount point'
            ' /vol/data1, mounted as a20f9958-58eaf9ec-0000-000000000 ("NFS_1")',
            LogKind.VMKERNEL, "nfs.server.restored", "NFS_1",
            {"server": "10.178.250.10", "mount_point": "/vol/data1", "volume": "a20f9958-58eaf9ec-0000-000000000",
             "label": "NFS_1"},
        ),
        (
            "2023-05-01T10:00:00.000Z In(182) vmkernel: cpu10:2099084 opID=a9f5cca4)NFS: 340: Restored connection to"
            ' the server 192.168.33.2 mount point /zbs/fi-1, mounted as f0102e1f-41b7b812-0000-000000000000 ("fi-1")',
            LogKind.VMKERNEL, "nfs.server.restored", "fi-1", {"server": "192.168.33.2", "mount_point": "/zbs/fi-1"},
        ),
        (
            "2023-05-01T10:00:00.000Z In(182) vmkernel: cpu10:2099084)NFS: 340: Lost connection to the server"
            ' 198.18.0.10 mount point /export/ds1, mounted as 11111111-22222222-0000-000000000000 ("ds-nfs01")',
            LogKind.VMKERNEL, "nfs.server.lost", "ds-nfs01", {"server": "198.18.0.10", "label": "ds-nfs01"},
        ),
        (
            "2014-01-01T10:00:00.000Z: [vmfsCorrelator] 9521467867us: [esx.problem.vmfs.nfs.server.disconnect]"
            " 192.168.1.1/NFS-DS1 12345678-abcdefg0-0000-000000000000 NFS-DS1",
            LogKind.VOBD, "nfs.server.lost", "NFS-DS1",
            {"server": "192.168.1.1", "mount_point": "/NFS-DS1", "volume": "12345678-abcdefg0-0000-000000000000"},
        ),
        (
            "2014-01-01T10:02:00.000Z: [APDCorrelator] 9521467867us: [esx.clear.storage.apd.exit] Device or"
            " filesystem with identifier [12345678-abcdefg0] has exited the All Paths Down state.",
            LogKind.VOBD, "apd.exit", "12345678-abcdefg0", {},
        ),
        (
            "2014-01-01T10:02:00.000Z: [vmfsCorrelator] 95214us: [esx.problem.vmfs.heartbeat.timedout]"
            " 5ee09751-87f3c36e-bb34-bc97e150f532 DS1",
            LogKind.VOBD, "vmfs.heartbeat.timeout", "DS1", {"volume": "5ee09751-87f3c36e-bb34-bc97e150f532"},
        ),
        (
            "2014-01-01T10:02:00.000Z: [scsiCorrelator] 95214us: [esx.problem.scsi.device.state.permanentloss]"
            " Device naa.600a0980383135 has been removed or is permanently inaccessible.",
            LogKind.VOBD, "pdl", "naa.600a0980383135", {},
        ),
        (
            "2014-01-01T10:02:00.000Z: [scsiCorrelator] 95214us: [esx.clear.storage.connectivity.restored]"
            " Connectivity to storage device naa.6006 (Datastores: 'SBS Datastore') restored. Path"
            " vmhba33:C1:T0:L0 is active again.",
            LogKind.VOBD, "connectivity.restored", "naa.6006", {"datastores": ["SBS Datastore"],
                                                               "path": "vmhba33:C1:T0:L0"},
        ),
        (
            "2016-01-01T10:00:00.000Z| vcpu-0| I120: Tools: Tools heartbeat timeout.",
            LogKind.VMWARE, "guest.tools_heartbeat.lost", None, {},
        ),
        (
            "2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: soft (mode Emulation)",
            LogKind.VMWARE, "guest.reset", None, {"kind": "soft", "vcpu": "vcpu-0"},
        ),
        (
            "2021-01-01T10:00:00.000Z cpu3:2097200)ALERT: Heartbeat: HandleLockup:827: PCPU 8 didn't have a"
            " heartbeat for 5 seconds, timeout is 14, 1 IPIs sent; *may* be locked up.",
            LogKind.VMKERNEL, "host.heartbeat.lost", None, {"pcpu": 8, "seconds": 5},
        ),
        (
            "2018-07-06T21:04:31.204Z info hostd[B781B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3030 :"
            " Device or filesystem with identifier naa.6001 has entered the All Paths Down Timeout state after"
            " being in the All Paths Down state for 140 seconds. I/Os will now be fast failed.",
            LogKind.HOSTD, "apd.timeout", "naa.6001", {"seconds": 140},
        ),
        (
            "2011-08-30T04:00:01Z bootstop: Host is powering off",
            LogKind.VMKSUMMARY, "host.shutdown", None, {"how": "powering off"},
        ),
        (
            "2020-01-01T00:00:00.000Z info hostd[1] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 201 : Lost access"
            " to volume 5ee09751-87f3c36e-bb34-bc97e150f532 (DS 1) due to connectivity issues. Recovery attempt is in"
            " progress and outcome will be reported shortly.",
            LogKind.HOSTD, "vmfs.heartbeat.timeout", "DS 1", {"volume": "5ee09751-87f3c36e-bb34-bc97e150f532"},
        ),
        (
            "2020-01-01T00:00:09.000Z In(166) Hostd[2]: [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 202 :"
            " Successfully restored access to volume 5ee09751-87f3c36e-bb34-bc97e150f532 (DS 1) following"
            " connectivity issues.",
            LogKind.HOSTD, "vmfs.heartbeat.reclaimed", "DS 1", {"label": "DS 1"},
        ),
        (
            "2020-01-01T00:00:00.000Z info hostd[1] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 203 : Lost"
            " connection to server 198.18.0.10 mount point /export/ds1 mounted as 1111-2222 (ds-nfs01).",
            LogKind.HOSTD, "nfs.server.lost", "ds-nfs01", {"server": "198.18.0.10", "mount_point": "/export/ds1"},
        ),
        (
            "2024-01-01T00:00:00.000Z In(14) vobd[2098532]:  [vmfsCorrelator] 148us: [vob.vmfs.heartbeat.recovered]"
            " Reclaimed heartbeat for volume 5ee09751-87f3c36e My DS  [Timeout] [HB state abcdef02 offset 3866624]",
            LogKind.VOBD, "vmfs.heartbeat.reclaimed", "My DS", {"volume": "5ee09751-87f3c36e"},
        ),
        (
            "Aug 15 06:07:13 vobd: Aug 15 06:07:13.285: 171971079169us: [vob.scsi.scsipath.pathstate.dead] scsiPath"
            " vmhba39:C0:T0:L1 changed state from on.",
            LogKind.OTHER, "path.dead", "vmhba39:C0:T0:L1", {"from": "on"},
        ),
        (
            "Aug 15 06:07:13 vmkernel: 1:23:46:11.099 cpu13:882014)ScsiDevice: 4993: Device state of"
            " naa.60060 set to APD_START; token num:1",
            LogKind.OTHER, "apd.start", "naa.60060", {},
        ),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "kind", "name", "subject", "fields"), FACT_LINES)
def test_fact_sheet_lines(raw: str, kind: LogKind, name: str, subject: str | None, fields: dict[str, Any]) -> None:
    ev = one(raw, kind)
    assert ev is not None, raw
    assert (ev.name, ev.subject) == (name, subject)
    for key, want in fields.items():
        assert ev.fields[key] == want, key


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("2019-01-01T00:00:00.000Z cpu0:2097152)StorageApdHandler: 692: APD Handle Created with lock.",
         LogKind.VMKERNEL),
        ('2011-08-09T10:43:26.858Z cpu2:2127)ScsiDeviceIO: 2316: Cmd(0x41) 0x25 to dev "naa.60a9" failed H:0x1'
         " D:0x0 P:0x0 Possible sense data: 0x5 0x25 0x0.", LogKind.VMKERNEL),
        ("2014-01-01T10:02:00.000Z: No correlator for vob.vmfs.nfs.server.disconnect", LogKind.VOBD),
        ("2014-01-01T10:02:00.000Z: [netCorrelator] 1us: [esx.clear.net.vmnic.linkstate.up] Physical NIC up",
         LogKind.VOBD),
        ("2024-05-07T16:29:50.697Z cpu26:2097711)HPP: HppAttemptFailoverRequest:1391: Re-issuing first command for"
         ' HPP device "eui.7e" (NO_CONNECT_ON_APD = CLEAR)', LogKind.VMKERNEL),
        ("Lost access to volume <GUID> (DS1234) due to connectivity issues.", LogKind.OTHER),
        ("2016-01-01T10:00:00.000Z| vcpu-0| I120: WinBSOD: something else entirely", LogKind.VMWARE),
    ],
)  # fmt: skip
def test_not_events(raw: str, kind: LogKind) -> None:
    assert one(raw, kind) is None


# ---------------------------------------------------------------------------------------------------
# guest.bsod aggregation


def msr_lines(code: int, params: list[int], *, start: int = 1, esxi8: bool = True) -> list[str]:
    values = [code, *params]
    if esxi8:
        return [f"2024-01-01T10:00:0{i}.000Z Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x4000010{i}] {v:#x}"
                for i, v in enumerate(values)]  # fmt: skip
    return [f"2020-01-01T10:00:0{i}.000Z| vcpu-0| I005: WinBSOD: Synthetic MSR[0x4000010{i}] {v:#x}"
            for i, v in enumerate(values)]  # fmt: skip


def build(raws: list[str], file: str = "/vmfs/volumes/ds1/win01/vmware.log") -> list[Event]:
    lines, prev = [], None
    for no, raw in enumerate(raws, 1):
        prev = parse_line(raw, LogKind.VMWARE, file=file, line_no=no, prev=prev)
        lines.append(prev)
    return events_from_lines(lines)


def test_bsod_7a_names_status_and_vm() -> None:
    (ev,) = build(msr_lines(0x7A, [0xFFFFF6FB40000000, 0xC000009D, 0x1C9A0860, 0xFFFFF68000000000], esxi8=False))
    assert ev.name == "guest.bsod" and ev.subject == "win01" and ev.line_no == 1
    assert ev.fields["name"] == "KERNEL_DATA_INPAGE_ERROR" and ev.fields["code_hex"] == "0x7A"
    assert ev.fields["status_name"] == "STATUS_DEVICE_NOT_CONNECTED"
    assert ev.fields["params_hex"][1] == "0xC000009D" and ev.fields["complete"] is True
    assert ev.time == datetime(2020, 1, 1, 10, 0, 0, tzinfo=UTC)


def test_bsod_with_continuation_lines_between() -> None:
    raws = []
    for line in msr_lines(0xEF, [1, 0, 0, 0]):
        raws += [line, "2024-01-01T10:00:00.000Z Wa(03)+ vcpu-1 -"]
    (ev,) = build(raws)
    assert ev.fields["code"] == 0xEF and ev.fields["complete"] is True


def test_bsod_incomplete_at_end_of_stream() -> None:
    (ev,) = build(msr_lines(0x133, [1, 2, 3, 4])[:3], file="vmware.log")
    assert ev.fields["complete"] is False and ev.fields["name"] == "DPC_WATCHDOG_VIOLATION"
    assert ev.fields["params"] == [1, 2, None, None] and ev.subject is None


def test_bsod_interrupted_by_other_event_then_second_crash() -> None:
    raws = msr_lines(0x50, [1, 2, 3, 4])[:2]
    raws.append("2024-01-01T10:01:00.000Z In(05) vmx - Tools: Tools heartbeat timeout.")
    raws += msr_lines(0x9F, [3, 4, 5, 6])
    events = build(raws)
    assert [e.name for e in events] == ["guest.bsod", "guest.tools_heartbeat.lost", "guest.bsod"]
    assert events[0].fields["complete"] is False and events[0].fields["code"] == 0x50
    assert events[2].fields["complete"] is True and events[2].fields["name"] == "DRIVER_POWER_STATE_FAILURE"


def test_bsod_restart_without_gap_starts_a_new_event() -> None:
    raws = msr_lines(0x7B, [1, 2, 3, 4])[:3] + msr_lines(0xED, [1, 2, 3, 4])
    events = build(raws)
    assert [(e.fields["code"], e.fields["complete"]) for e in events] == [(0x7B, False), (0xED, True)]
    assert events[1].fields["name"] == "UNMOUNTABLE_BOOT_VOLUME" and events[1].line_no == 4


def test_bsod_builder_feed_and_close() -> None:
    b = EventBuilder(host="esx09", file="vmware.log")
    got: list[Event] = []
    for no, raw in enumerate(msr_lines(0x24, [1, 2, 3, 4])[:4], 1):
        got += b.feed(parse_line(raw, LogKind.VMWARE, line_no=no))
    assert got == []  # not complete yet
    (ev,) = b.close()
    assert ev.host == "esx09" and ev.file == "vmware.log" and ev.fields["name"] == "NTFS_FILE_SYSTEM"
    assert b.close() == []


# ---------------------------------------------------------------------------------------------------
# twins


def vob(name: str, sid: str, t: datetime | None, line_no: int, subject: str = "naa.1") -> Event:
    return Event(name=name, time=t, host="esx01", file="vobd.log", line_no=line_no, raw="", subject=subject,
                 source_id=sid, kind=LogKind.VOBD)  # fmt: skip


def test_twins_link_esx_to_vob_within_two_seconds_in_any_order() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    esx = vob("apd.start", "esx.problem.storage.apd.start", t0, 1)
    raw = vob("apd.start", "vob.storage.apd.start", t0 + timedelta(seconds=1.5), 2)
    far_esx = vob("apd.start", "esx.problem.storage.apd.start", t0 + timedelta(seconds=10), 3)
    other = vob("apd.start", "esx.problem.storage.apd.start", t0, 4, subject="naa.2")
    events = [esx, raw, far_esx, other]
    link_twins(events)
    assert esx.twin == raw.key and raw.twin is None
    assert far_esx.twin is None and other.twin is None
    assert sum(1 for e in events if e.twin is None) == 3


def test_twins_one_vob_serves_one_esx() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    a = vob("path.dead", "esx.problem.x", t0, 1)
    b = vob("path.dead", "esx.problem.x", t0, 2)
    v = vob("path.dead", "vob.x", t0, 3)
    link_twins([a, b, v])
    assert [a.twin, b.twin] in ([v.key, None], [None, v.key])


def test_twins_masked_times_use_line_distance() -> None:
    near = vob("apd.start", "esx.problem.storage.apd.start", None, 12)
    raw = vob("apd.start", "vob.storage.apd.start", None, 10)
    far = vob("apd.start", "esx.problem.storage.apd.start", None, 40)
    link_twins([raw, near, far])
    assert near.twin == raw.key and far.twin is None


# ---------------------------------------------------------------------------------------------------
# prefilter


def all_event_lines() -> tuple[list[str], list[str]]:
    """(raw lines that yield an event, all raw lines) over the samples, seeds and fact-sheet lines."""
    event_raws: list[str] = []
    all_raws: list[str] = []
    for p in LABEL_FILES:
        spec = yaml.safe_load(p.read_text())
        lines = sample_lines(spec["sample"], LogKind(spec["kind"]))
        all_raws += [ln.raw for ln in lines]
        event_raws += [e.raw for e in events_from_lines(lines)]
        # every MSR line of a BSOD counts (the scanner must keep all five)
        event_raws += [ln.raw for ln in lines if "WinBSOD" in ln.raw]
    psod, summary = kb308590_events()
    event_raws += [e.raw for e in [*kb392634_events(), *psod, *summary]]
    event_raws += [case[0] for case in FACT_LINES]
    return event_raws, all_raws


def test_every_catalog_name_is_exercised() -> None:
    names = {case[2] for case in FACT_LINES}
    for p in LABEL_FILES:
        spec = yaml.safe_load(p.read_text())
        names |= {e.name for e in events_from_lines(sample_lines(spec["sample"], LogKind(spec["kind"])))}
    psod, summary = kb308590_events()
    names |= {e.name for e in [*kb392634_events(), *psod, *summary]}
    assert names == set(CATALOG_NAMES)


def test_prefilter_keeps_every_event_line() -> None:
    compiled = [re.compile(p) for p in PREFILTER]
    event_raws, _ = all_event_lines()
    assert len(event_raws) > 80
    missed = [r for r in event_raws if not any(c.search(r) for c in compiled)]
    assert not missed
    union = re.compile(GREP_UNION)
    assert all(union.search(r) for r in event_raws)


def test_prefilter_is_selective() -> None:
    _, all_raws = all_event_lines()
    union = re.compile(GREP_UNION)
    kept = [r for r in all_raws if union.search(r)]
    assert len(kept) < 0.5 * len(all_raws)


def test_prefilter_patterns_compile_in_hyperscan() -> None:
    hyperscan = pytest.importorskip("hyperscan")
    db = hyperscan.Database()
    db.compile(expressions=[p.encode() for p in PREFILTER], ids=list(range(len(PREFILTER))),
               flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(PREFILTER))  # fmt: skip
    event_raws, _ = all_event_lines()
    missed = []
    for raw in event_raws:
        hits: list[int] = []

        def on_match(i: int, *_: object, found: list[int] = hits) -> None:
            found.append(i)

        db.scan(raw.encode(), match_event_handler=on_match)
        if not hits:
            missed.append(raw)
    assert not missed


@pytest.mark.skipif(shutil.which("grep") is None, reason="grep not installed")
def test_grep_union_agrees_with_python(tmp_path: Path) -> None:
    event_raws, all_raws = all_event_lines()
    lines = sorted(set(event_raws + all_raws))
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run(["grep", "-E", GREP_UNION, str(src)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    union = re.compile(GREP_UNION)
    assert out.stdout.splitlines() == [ln for ln in lines if union.search(ln)]
