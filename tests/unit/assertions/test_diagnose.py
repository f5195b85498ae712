"""KB 392634 and KB 308590 diagnoses on catalog events built from the KBs' and the corpus' examples."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from faultlab.assertions import catalog, layouts
from faultlab.assertions.diagnose import (
    DiagVerdict,
    diagnose_kb308590,
    diagnose_kb308590_hosts,
    diagnose_kb392634,
    memory_trends,
    order,
    process_role,
)
from faultlab.assertions.meminfo import Point, least_squares_slope, parse_meminfo
from faultlab.assertions.model import Event, LogKind, LogLine

T0 = datetime(2026, 3, 4, 10, 0, 0, tzinfo=UTC)
VMX = "/vmfs/volumes/ds-nfs01/win01/win01.vmx"
_line = iter(range(1, 1_000_000))


def ev(
    event_name: str,
    at: datetime | None,
    file: str,
    subject: str | None = None,
    host: str = "esx01",
    /,
    **fields: Any,
) -> Event:
    return Event(event_name, at, host, file, next(_line), f"<{event_name}>", subject, dict(fields))


def slow_io(at: datetime | None, seconds: int = 140, path: str = VMX) -> Event:
    vm = path.split("/")[4]
    return ev(
        "hostd.slow_io", at, "hostd.log", path, op="fopen", path=path, seconds=seconds, vm=vm, datastore="ds-nfs01"
    )


def bsod(at: datetime | None, vm: str = "win01", code: int = 0xEF, name: str = "CRITICAL_PROCESS_DIED") -> Event:
    return ev(
        "guest.bsod",
        at,
        f"/vmfs/volumes/ds-nfs01/{vm}/vmware.log",
        vm,
        code=code,
        code_hex=f"0x{code:X}",
        name=name,
        params=[0xFFFFB5096E266080, 0, 0, 0],
        complete=True,
    )


def apd_start(at: datetime | None) -> Event:
    return ev("apd.start", at, "vobd.log", "12345678-abcdefg0")


def nfs_restored(at: datetime | None) -> Event:
    return ev(
        "nfs.server.restored",
        at,
        "vobd.log",
        "/ds-nfs01",
        server="198.18.0.10",
        mount_point="/ds-nfs01",
        volume="12345678-abcdefg0",
        label="ds-nfs01",
    )


def kb392634_story() -> list[Event]:
    """The KB's sequence with real clocks: hostd latency, APD, NFS restored, then the 0xEF bugcheck."""
    return [
        slow_io(T0, 76),
        slow_io(T0 + timedelta(seconds=64), 140),
        apd_start(T0 + timedelta(seconds=10)),
        nfs_restored(T0 + timedelta(minutes=5)),
        bsod(T0 + timedelta(minutes=5, seconds=30)),
    ]


# ----------------------------------------------------------------------------------------- KB 392634


def test_kb392634_timeline_matches() -> None:
    [d] = diagnose_kb392634(kb392634_story())
    assert d.verdict is DiagVerdict.TRUE
    assert d.subject == "win01" and d.host == "esx01"
    assert d.figures["bugcheck"] == "0xEF CRITICAL_PROCESS_DIED"
    assert d.figures["bugcheck_code"] == 0xEF
    assert d.figures["max_slow_io_s"] == 140
    assert d.figures["storage_events"] == 3
    assert d.figures["lead_s"] == 330.0
    assert d.figures["recovery_before_bsod_s"] == 30.0
    assert [e.name for e in d.evidence] == [
        "hostd.slow_io",
        "apd.start",
        "hostd.slow_io",
        "nfs.server.restored",
        "guest.bsod",
    ]
    assert "as storage connectivity begins to recover" in d.summary
    assert any("Ensure the underlying storage is restored" in r for r in d.recommendations)
    assert any("HBAs, switches" in r for r in d.recommendations)
    assert any("storage vendor" in r for r in d.recommendations)
    json.dumps(d.to_json())  # the triage --json shape must serialise
    assert d.to_json()["verdict"] == "true"


def test_kb392634_bsod_without_storage_trouble_is_false() -> None:
    [d] = diagnose_kb392634([bsod(T0, code=0x7A, name="KERNEL_DATA_INPAGE_ERROR")])
    assert d.verdict is DiagVerdict.FALSE
    assert "Look elsewhere" in d.summary
    assert d.figures["storage_events"] == 0


def test_kb392634_trouble_long_before_is_outside_window() -> None:
    events = [apd_start(T0 - timedelta(hours=2)), nfs_restored(T0 - timedelta(hours=1, minutes=50)), bsod(T0)]
    [d] = diagnose_kb392634(events)
    assert d.verdict is DiagVerdict.FALSE
    assert "APD start on 12345678-abcdefg0" in d.summary  # names the last earlier problem


def test_kb392634_trouble_on_other_host_does_not_count() -> None:
    other = apd_start(T0 - timedelta(minutes=2))
    other.host = "esx02"
    [d] = diagnose_kb392634([other, bsod(T0)])
    assert d.verdict is DiagVerdict.FALSE


def test_kb392634_masked_timestamps_are_unknown() -> None:
    """The KB's own excerpt: every timestamp is YYYY-MM-DDTHH:MM:SS, lines in different files."""
    events = [slow_io(None, 140), apd_start(None), nfs_restored(None), bsod(None)]
    [d] = diagnose_kb392634(events)
    assert d.verdict is DiagVerdict.UNKNOWN
    assert "cannot be decided" in d.summary
    assert d.figures["storage_events"] == 0 and d.figures["unordered_storage_events"] == 2
    assert sorted(e.name for e in d.evidence) == [
        "apd.start",
        "guest.bsod",
        "hostd.slow_io",
        "nfs.server.restored",
    ]
    assert d.figures["max_slow_io_s"] == 140


def test_kb392634_masked_bsod_without_any_trouble_is_false() -> None:
    [d] = diagnose_kb392634([bsod(None)])
    assert d.verdict is DiagVerdict.FALSE


def test_kb392634_untimed_same_file_orders_by_line() -> None:
    a = ev("apd.start", None, "all.log", "naa.1")
    b = ev("guest.bsod", None, "all.log", "win01", code=0xEF, code_hex="0xEF", name="CRITICAL_PROCESS_DIED")
    assert order(a, b) == -1 and order(b, a) == 1
    [d] = diagnose_kb392634([a, b])
    assert d.verdict is DiagVerdict.TRUE


def test_kb392634_twins_counted_once() -> None:
    first = apd_start(T0)
    twin = apd_start(T0)
    twin.twin = first.key
    [d] = diagnose_kb392634([first, twin, bsod(T0 + timedelta(minutes=3))])
    assert d.figures["storage_events"] == 1
    assert sum(1 for e in d.evidence if e.name == "apd.start") == 1


def test_kb392634_slow_io_on_another_vm_is_not_this_vms_trouble() -> None:
    other = slow_io(T0, 90, "/vmfs/volumes/ds-nfs01/sql02/sql02.vmx")
    diags = diagnose_kb392634([other, bsod(T0 + timedelta(minutes=1))])
    by_vm = {d.subject: d for d in diags}
    assert by_vm["win01"].verdict is DiagVerdict.FALSE
    assert by_vm["sql02"].verdict is DiagVerdict.INFO  # at risk: slow I/O, no BSOD
    assert by_vm["sql02"].figures["max_slow_io_s"] == 90
    assert "at risk" in by_vm["sql02"].title


def test_kb392634_second_bsod_after_recovery_is_flagged() -> None:
    events = [*kb392634_story(), bsod(T0 + timedelta(minutes=20))]
    diags = diagnose_kb392634(events)
    assert [d.verdict for d in diags] == [DiagVerdict.TRUE, DiagVerdict.FALSE]
    assert diags[0].figures["bsod_after_recovery"] == 1
    assert diags[0].figures["bsod_count"] == 2
    assert "does not match" in diags[1].title
    assert diags[1].evidence[-1].time == T0 + timedelta(minutes=20)


def test_kb392634_crash_at_recovery_after_an_earlier_crash_is_not_flagged() -> None:
    """trouble -> BSOD -> restored -> BSOD: the second crash is still 'as connectivity recovers'."""
    events = [
        apd_start(T0),
        bsod(T0 + timedelta(minutes=2)),
        nfs_restored(T0 + timedelta(minutes=6)),
        bsod(T0 + timedelta(minutes=6, seconds=20)),
    ]
    diags = diagnose_kb392634(events)
    assert len(diags) == 1 and diags[0].verdict is DiagVerdict.TRUE
    assert "bsod_after_recovery" not in diags[0].figures


def test_kb392634_no_recovery_seen_still_matches_but_says_so() -> None:
    [d] = diagnose_kb392634([apd_start(T0), bsod(T0 + timedelta(minutes=4))])
    assert d.verdict is DiagVerdict.TRUE
    assert "No storage recovery was seen" in d.summary


# ----------------------------------------------------------------------------------------- KB 308590

KB308590_MEMINFO = "MemTotal:799732 kB\nHighTotal:0 kB\nLowTotal:799732 kB\nSwapTotal:554168 kB\n"


def esx3_sample(
    epoch: int,
    uptime: float,
    procs: list[tuple[str, int]],
    host: str = "esxhostname",
    swap: int = 567468032,
    vms: int = 73,
) -> Event:
    return ev(
        "host.memory.sample",
        datetime.fromtimestamp(epoch, UTC),
        "vmksummary",
        None,
        host,
        format="esx3",
        uptime_s=uptime,
        vms=vms,
        swap_bytes=swap,
        epoch=epoch,
        processes=[{"name": n, "id": None, "mem_kb": kb} for n, kb in procs],
        cpu=[],
    )


def kb308590_events() -> list[Event]:
    """The KB's vmksummary (two hourly samples, then a boot with no halt line) and its PSOD lines."""
    return [
        esx3_sample(1258099291, 11795301.25, [("VMap", 583524), ("vmware-h", 82812), ("webAcces", 27332)]),
        esx3_sample(1258102905, 11798915.64, [("VMap", 586196), ("vmware-h", 83180), ("webAcces", 27292)]),
        ev("host.boot", datetime.fromtimestamp(1258114439, UTC), "vmksummary", None, "esxhostname", epoch=1258114439),
        ev("host.heartbeat.lost", None, "vmkernel", None, "esxhostname", comm="vmnixhbd", pid=20, t=29, to=30),
        ev("host.heartbeat.lost", None, "vmkernel", None, "esxhostname", comm="VMap", pid=9173, t=30, to=30),
        ev("host.psod", None, "vmkernel", None, "esxhostname", reason="Lost heartbeat"),
    ]


def test_parse_meminfo_kb_layout_and_proc_layout() -> None:
    assert parse_meminfo(KB308590_MEMINFO) == {
        "MemTotal": 799732,
        "HighTotal": 0,
        "LowTotal": 799732,
        "SwapTotal": 554168,
    }
    proc = parse_meminfo("MemTotal:        8000000 kB\nHugePages_Total:       0\nnot a line\n\n")
    assert proc == {"MemTotal": 8000000, "HugePages_Total": 0}


def test_least_squares_slope() -> None:
    assert least_squares_slope([Point(0, 100), Point(1, 110), Point(2, 120)]) == pytest.approx(10.0)
    assert least_squares_slope([Point(0, 100), Point(1, 130), Point(2, 100)]) == pytest.approx(0.0)
    assert least_squares_slope([Point(5, 100)]) == 0.0


def test_kb308590_lost_heartbeat_culprit_vmap() -> None:
    d = diagnose_kb308590(kb308590_events(), parse_meminfo(KB308590_MEMINFO))
    assert d is not None
    assert d.verdict is DiagVerdict.TRUE
    assert d.subject == "esxhostname"
    f = d.figures
    assert f["culprit"] == "VMap"
    assert f["top1"] == "VMap 586196 kB" and f["top2"] == "vmware-h 83180 kB" and f["top3"] == "webAcces 27292 kB"
    assert f["swap_used_bytes"] == 567468032 and f["swap_used_mb"] == 541
    assert f["swap_used_pct"] == 100.0  # 567468032 bytes of 554168 kB, as the KB computes
    # The KB writes "69 % of RAM"; 586196 / 799732 kB is 73.3 % (69 % is 541 MB swap / 780 MB RAM).
    assert f["top_share_of_ram_pct"] == 73.3
    assert f["proc.VMap.first_kb"] == 583524 and f["proc.VMap.last_kb"] == 586196
    assert f["proc.VMap.growth_kb_per_h"] == pytest.approx(2672 / ((1258102905 - 1258099291) / 3600), abs=0.1)
    assert f["proc.VMap.growth_pct"] == pytest.approx(0.46, abs=0.01)
    assert float(f["proc.webAcces.growth_pct"]) < 0
    assert f["gap_before_boot_h"] == pytest.approx((1258114439 - 1258102905) / 3600, abs=0.01)
    assert f["heartbeat_lost_lines"] == 2
    assert "comm=VMap, vmnixhbd" in d.summary and "VMware HA" in d.summary and "memory leak" in d.summary
    assert any("engage VMware Support" in r for r in d.recommendations)
    assert any("Misc.CosCoreFile" in r for r in d.recommendations)
    assert any("/root/old_cores" in r and "vmkernel-zdump" in r for r in d.recommendations)
    assert any("top in batch mode" in r for r in d.recommendations)
    json.dumps(d.to_json())


def test_kb308590_unclean_boot_without_psod_text_is_unknown() -> None:
    events = [e for e in kb308590_events() if e.name not in ("host.psod", "host.heartbeat.lost")]
    d = diagnose_kb308590(events)
    assert d is not None and d.verdict is DiagVerdict.UNKNOWN
    assert d.figures["culprit"] == "VMap"
    assert "swap_used_pct" not in d.figures  # no meminfo given


def esxi_sample(at: str, up: float, procs: list[tuple[int, str, int]], host: str = "esx7") -> Event:
    return ev(
        "host.memory.sample",
        datetime.fromisoformat(at),
        "vmksummary.log",
        None,
        host,
        format="esxi",
        uptime_s=up,
        vms=10,
        swap_bytes=None,
        epoch=None,
        processes=[{"name": n, "id": i, "mem_kb": kb} for i, n, kb in procs],
        cpu=[],
    )


KB317245_PROCS = [(2109036, "vmx", 16752988), (2115283, "vmx", 16775168), (2112238, "vmx", 44607488)]


def kb317245_events(with_halt: bool = True) -> list[Event]:
    """vmksummary.txt's ESXi 7/8 excerpt (KB 317245): flat vmx footprints, halt, boot, reboot, boot."""
    events = [
        esxi_sample("2025-09-18T01:00:00.360+00:00", 1907222, KB317245_PROCS),
        esxi_sample("2025-09-18T02:00:00.360+00:00", 1910822, KB317245_PROCS),
        ev(
            "host.shutdown",
            datetime.fromisoformat("2025-09-18T02:15:00.360+00:00"),
            "vmksummary.log",
            None,
            "esx7",
            how="halting",
        ),
        ev("host.boot", datetime.fromisoformat("2025-09-18T02:45:00.360+00:00"), "vmksummary.log", None, "esx7"),
        ev(
            "host.shutdown",
            datetime.fromisoformat("2025-09-18T04:25:00.360+00:00"),
            "vmksummary.log",
            None,
            "esx7",
            how="rebooting",
        ),
        ev("host.boot", datetime.fromisoformat("2025-09-18T04:27:00.360+00:00"), "vmksummary.log", None, "esx7"),
    ]
    return events if with_halt else [e for e in events if e.fields.get("how") != "halting"]


def test_kb308590_nothing_grows_no_single_culprit() -> None:
    assert diagnose_kb308590(kb317245_events()) is None  # no crash, nothing grows: nothing to say
    [d] = diagnose_kb308590_hosts(kb317245_events())
    assert d.verdict is DiagVerdict.INFO  # clean halt and reboot: no crash
    assert "culprit" not in d.figures
    assert "no process grows steadily" in d.summary and "within the hour" in d.summary
    assert d.figures["top1"] == "vmx[2112238] 44607488 kB"
    assert d.figures["proc.vmx[2109036].growth_kb_per_h"] == 0.0
    assert any("Identify the component" in r for r in d.recommendations)


def test_kb308590_esxi_boot_without_bootstop_is_unclean() -> None:
    d = diagnose_kb308590(kb317245_events(with_halt=False))
    # issue 12 item 7: an unclean stop of an ESXi 5+ host (no Service Console) is not KB 308590's crash
    assert d is not None and d.verdict is DiagVerdict.FALSE
    assert d.figures["gap_before_boot_h"] == 0.75
    assert "no shutdown line" in d.summary


def test_kb308590_uptime_reset_without_boot_line_splits_and_is_unclean() -> None:
    events = [
        esx3_sample(1000000, 7200.0, [("VMap", 1000)]),
        esx3_sample(1003600, 10800.0, [("VMap", 5000)]),
        esx3_sample(1020000, 600.0, [("VMap", 900)]),  # uptime went back: the host restarted
    ]
    d = diagnose_kb308590(events)
    assert d is not None and d.verdict is DiagVerdict.UNKNOWN
    assert d.figures["samples"] == 2  # the figures stop at the crash, not after the restart
    assert d.figures["culprit"] == "VMap"


def test_kb308590_esx4_repeated_short_names_are_separate_series() -> None:
    """KB 1019238's ESX 4 line lists sfcbd twice (two processes with one short name)."""
    sample = esx3_sample(
        1265803308, 1746.98, [("vmware-h", 59580), ("sfcbd", 7660), ("sfcbd", 3524)], host="localhost", swap=0, vms=0
    )
    trends = memory_trends([sample])
    assert [t.process for t in trends] == ["vmware-h", "sfcbd", "sfcbd#2"]
    assert process_role("sfcbd") is not None and process_role("webAcces") is not None
    assert process_role("acme-agent") is None


def test_kb308590_third_party_culprit_gets_the_removal_advice() -> None:
    events = [
        esx3_sample(1000000 + 3600 * i, 3600.0 * (i + 1), [("acmeagnt", 100000 + 5000 * i), ("vmware-h", 80000)])
        for i in range(4)
    ]
    d = diagnose_kb308590(events)
    assert d is not None and d.verdict is DiagVerdict.INFO
    assert d.figures["culprit"] == "acmeagnt"
    assert d.figures["proc.acmeagnt.growth_kb_per_h"] == pytest.approx(5000.0)
    assert any("third-party" in r and "removing" in r for r in d.recommendations)


def test_kb308590_per_host_and_nothing_to_say() -> None:
    events = [*kb308590_events(), *kb317245_events()]
    hosts = {d.subject: d.verdict for d in diagnose_kb308590_hosts(events)}
    assert hosts == {"esxhostname": DiagVerdict.TRUE, "esx7": DiagVerdict.INFO}
    best = diagnose_kb308590(events)
    assert best is not None and best.subject == "esxhostname"
    assert diagnose_kb308590([bsod(T0)]) is None


def test_kb308590_timed_psod_picks_samples_before_it() -> None:
    events = [esx3_sample(1000000 + 3600 * i, 3600.0 * (i + 1), [("VMap", 1000 + 100 * i)], host="h") for i in range(5)]
    psod = ev(
        "host.psod",
        datetime.fromtimestamp(1000000 + 3600 * 2 + 60, UTC),
        "vmkernel",
        None,
        "h",
        reason="Lost heartbeat",
    )
    d = diagnose_kb308590([*events, psod])
    assert d is not None and d.verdict is DiagVerdict.TRUE
    assert d.figures["samples"] == 3 and d.figures["proc.VMap.last_kb"] == 1200


def test_event_kind_untouched() -> None:
    """Diagnoses keep the events they were given (no copies with other fields)."""
    story = kb392634_story()
    [d] = diagnose_kb392634(story)
    assert all(any(e is s for s in story) for e in d.evidence)
    assert all(e.kind is LogKind.OTHER for e in d.evidence)


def test_kb308590_esx4_two_boot_lines_are_one_start() -> None:
    """KB 1019238: "Rebooting system...", "Starting system...", "(epoch) loaded VMkernel": a clean reboot."""
    events = [
        esx3_sample(1265803308, 1746.98, [("vmware-h", 59580)], host="localhost", swap=0, vms=0),
        ev("host.shutdown", datetime.fromtimestamp(1268148282, UTC), "vmksummary", None, "localhost", how="rebooting"),
        ev("host.boot", datetime.fromtimestamp(1268148374, UTC), "vmksummary", None, "localhost", epoch=1268148374),
        ev("host.boot", datetime.fromtimestamp(1268148407, UTC), "vmksummary", None, "localhost", epoch=1268148407),
    ]
    [d] = diagnose_kb308590_hosts(events)
    assert d.verdict is DiagVerdict.INFO
    late = ev("host.boot", datetime.fromtimestamp(1268148407 + 7200, UTC), "vmksummary", None, "localhost")
    unclean = diagnose_kb308590([*events, late])  # booted again 2 h later without a stop line
    assert unclean is not None and unclean.verdict is DiagVerdict.UNKNOWN


# ------------------------------------------------------------------ end to end through the real parser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "log-samples"

# Verbatim from the seed KBs (/work/shared/seeds): KB 308590's vmksummary and PSOD lines, KB 392634's
# hostd / vobd / vmware.log excerpts (with the KB's masked timestamps).
SEED_308590_VMKSUMMARY = """\
Nov 13 03:01:35 esxhostname logger: (1258099291) hb: vmk loaded, 11795301.25, 11795288.970, 73, 153875, 153875, 567468032, VMap-583524, vmware-h-82812, webAcces-27332
Nov 13 04:01:45 esxhostname logger: (1258102905) hb: vmk loaded, 11798915.64, 11798902.253, 73, 153875, 153875, 567468032, VMap-586196, vmware-h-83180, webAcces-27292
Nov 13 07:13:58 esxhostname vmkhalt: (1258114439) Starting system...
"""  # noqa: E501
SEED_308590_PSOD = """\
VMware ESX Server [Releasebuild-123630]
Lost heartbeat
@BlueScreen: Lost heartbeat
VMK uptime: 42:14:03:58.308 TSC: 11010722567976450
42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 clt=1).
42:14:03:29.341 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=VMap pid=9173 t=30 to=30 clt=1).
42:14:03:29.508 cpu0:1024)Host: 4781: COS Error: Lost heartbeat
"""
SEED_392634 = {
    LogKind.HOSTD: """\
[YYYY-MM-DDTHH:MM:SS] warning hostd[2104418] [Originator@6876 sub=IoTracker] In thread 2927571, fopen("/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx") took over 140 sec.
[YYYY-MM-DDTHH:MM:SS] warning hostd[2285231] [Originator@6876 sub=IoTracker] In thread 2102958, fopen("/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx") took over 76 sec.
[YYYY-MM-DDTHH:MM:SS] info hostd[2102535] [Originator@6876 sub=Libs opID=########-########-####-####-h5:########-##-##-##-####] DictionaryLoad: Cannot open file "/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx": Input/output error.
""",  # noqa: E501
    LogKind.VOBD: """\
[YYYY-MM-DDTHH:MM:SS] In(14) vobd[2097765]: [APDCorrelator] ##############: [esx.problem.storage.apd.start] Device or filesystem with identifier [#######-#######] has entered the All Paths Down state.
[YYYY-MM-DDTHH:MM:SS] In(14) vobd[2097765]: [vmfsCorrelator] ############: [vob.vmfs.nfs.server.restored] Restored connection to the server ###.###.#.### mount point /<DatastoreName>, mounted as #-#-#-# ("<Datastore Name>")
""",  # noqa: E501
    LogKind.VMWARE: """\
[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######0] 0xef
[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -
[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######1] 0xffffb5096e266080
[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -
[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######2] 0x0
[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -
[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######3] 0x0
[YYYY-MM-DDTHH:MM:SS] Wa(03)+ vcpu-1 -
[YYYY-MM-DDTHH:MM:SS] Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######4] 0x0
""",
}
SEED_392634_FILES = {
    LogKind.HOSTD: "hostd.log",
    LogKind.VOBD: "vobd.log",
    LogKind.VMWARE: "/vmfs/volumes/<datastore>/<VMName>/vmware.log",
}


def parsed(text: str, kind: LogKind, file: str, host: str = "", year: int = 2009) -> list[Event]:
    """Real layouts + catalog over verbatim lines; '#' comment lines of the corpus are skipped."""
    lines: list[LogLine] = []
    prev: LogLine | None = None
    for no, raw in enumerate(text.splitlines(), start=1):
        if raw.startswith("#") or not raw.strip():
            continue
        prev = layouts.parse_line(raw, kind, file=file, line_no=no, host=host, prev=prev, year=year)
        lines.append(prev)
    return catalog.events_from_lines(lines, host=host, file=file)


def test_e2e_kb308590_seed_through_parser() -> None:
    events = parsed(SEED_308590_VMKSUMMARY, LogKind.VMKSUMMARY, "vmksummary", "esxhostname")
    events += parsed(SEED_308590_PSOD, LogKind.VMKERNEL, "vmkernel", "esxhostname")
    d = diagnose_kb308590(events, parse_meminfo(KB308590_MEMINFO))
    assert d is not None and d.verdict is DiagVerdict.TRUE and d.subject == "esxhostname"
    assert d.figures["culprit"] == "VMap"
    assert d.figures["swap_used_pct"] == 100.0 and d.figures["top_share_of_ram_pct"] == 73.3
    assert d.figures["proc.VMap.first_kb"] == 583524 and d.figures["proc.VMap.last_kb"] == 586196
    assert "comm=VMap, vmnixhbd" in d.summary


def test_e2e_vmksummary_corpus_per_host() -> None:
    events = parsed((FIXTURES / "vmksummary.txt").read_text(), LogKind.VMKSUMMARY, "vmksummary.log")
    by_host = {d.subject: d for d in diagnose_kb308590_hosts(events)}
    assert {"esxhostname", "myhost", "localhost"} <= set(by_host)
    # KB 1019238: Rebooting, Starting, loaded VMkernel, Halting: clean stops only.
    assert by_host["localhost"].verdict is DiagVerdict.INFO
    assert by_host["localhost"].figures["top1"] == "vmware-h 59580 kB"
    assert by_host["esxhostname"].figures["top1"] == "VMap 583524 kB"  # the corpus keeps one KB line
    assert "one sample only" in by_host["esxhostname"].summary


@pytest.mark.parametrize("times", [None, ["10:00:00", "10:01:04", "10:02:00", "10:05:00", "10:05:30"]])
def test_e2e_kb392634_seed_through_parser(times: list[str] | None) -> None:
    """The KB's excerpt as printed (masked: unknown) and with real clocks substituted (matches)."""
    events: list[Event] = []
    for kind, seed in SEED_392634.items():
        text = seed
        if times is not None:
            # one stamp per line in the order the KB prints them: hostd 0-2, vobd 0 and 3, vmware.log 4
            order_of = {LogKind.HOSTD: [0, 1, 2], LogKind.VOBD: [0, 3], LogKind.VMWARE: [4] * 9}[kind]
            text = "\n".join(
                line.replace("YYYY-MM-DDTHH:MM:SS", f"2026-03-04T{times[i]}.000Z")
                for line, i in zip(text.splitlines(), order_of, strict=True)
            )
        events += parsed(text, kind, SEED_392634_FILES[kind], "esx01", 2026)
    assert sorted({e.name for e in events}) == [
        "apd.start",
        "guest.bsod",
        "hostd.io_error",
        "hostd.slow_io",
        "nfs.server.restored",
    ]
    [d] = diagnose_kb392634(events)
    assert d.subject == "<VMName>" and d.figures["bugcheck"] == "0xEF CRITICAL_PROCESS_DIED"
    assert d.figures["max_slow_io_s"] == 140
    if times is None:
        assert d.verdict is DiagVerdict.UNKNOWN
    else:
        assert d.verdict is DiagVerdict.TRUE
        assert d.figures["lead_s"] == 330.0 and d.figures["recovery_before_bsod_s"] == 30.0


def test_kb308590_uptime_behind_the_clock_means_a_restart() -> None:
    """10 h between samples but only 1 h more uptime: the host restarted with no line saying so."""
    first = esxi_sample("2025-09-18T01:00:00+00:00", 7200, KB317245_PROCS)
    later = esxi_sample("2025-09-18T11:00:00+00:00", 10800, KB317245_PROCS)
    d = diagnose_kb308590([first, later])
    assert d is not None and d.verdict is DiagVerdict.FALSE  # ESXi 5+ host: KB 308590 does not apply
    assert d.figures["samples"] == 1 and d.figures["gap_before_boot_h"] == 10.0
    assert "shows a restarted host" in d.summary


def test_kb308590_crash_with_flat_memory_has_no_single_culprit() -> None:
    d = diagnose_kb308590(kb317245_events(with_halt=False))
    assert d is not None and d.verdict is DiagVerdict.FALSE
    assert "culprit" not in d.figures and "no single process" in d.summary
    assert any("KB 317245" in r and "engage VMware Support" in r for r in d.recommendations)
    assert not any("Service Console" in r or "cos-core" in r for r in d.recommendations)


def test_kb308590_pcpu_lockup_is_not_the_cos_heartbeat() -> None:
    lockup = ev("host.heartbeat.lost", T0, "vmkernel.log", None, "esx7", pcpu=8, seconds=5)
    assert diagnose_kb308590_hosts([lockup]) == []
    [d] = diagnose_kb308590_hosts([*kb317245_events(), lockup])
    assert d.verdict is DiagVerdict.INFO and d.figures["pcpu_lockup_alerts"] == 1
    assert "KB 335063" in d.summary


def test_kb308590_other_psod_is_unknown_with_its_reason() -> None:
    psod = ev(
        "host.psod", None, "vmkernel.log", None, "esxhostname", reason="NMI IPI: Panic requested by another PCPU."
    )
    events = [e for e in kb308590_events() if e.name not in ("host.psod", "host.heartbeat.lost")]
    d = diagnose_kb308590([*events, psod])
    assert d is not None and d.verdict is DiagVerdict.UNKNOWN
    assert "NMI IPI" in d.summary and psod in d.evidence


def test_kb392634_tools_heartbeat_lost_during_trouble_is_at_risk() -> None:
    hb = ev("guest.tools_heartbeat.lost", T0 + timedelta(minutes=2), "/vmfs/volumes/ds-nfs01/app03/vmware.log", "app03")
    diags = diagnose_kb392634([apd_start(T0), hb])
    assert [(d.subject, d.verdict) for d in diags] == [("app03", DiagVerdict.INFO)]
    assert "Tools heartbeat lost in app03" in diags[0].summary


# ------------------------------------------------------------------ issue 12 item 7: KB 308590 where it applies

# reference/log-samples/vmksummary.txt:11-12,14 (KB 317245, ESXi 7/8): two hourly samples, then a boot with no
# halt line before it; vmkernel.log.txt:95: an ESXi purple screen that is not a Lost Heartbeat
KB317245_UNCLEAN = [
    "2025-09-18T01:00:00.360Z heartbeat[14118500]: up 22d1h40m22s, 10 VMs; [[2109036 vmx 16752988kB] [2115283 vmx "
    "16775168kB] [2112238 vmx 44607488kB]] []",
    "2025-09-18T02:00:00.360Z heartbeat[14118500]: up 22d2h40m22s, 10 VMs; [[2109036 vmx 16752988kB] [2115283 vmx "
    "16775168kB] [2112238 vmx 44607488kB]] []",
    "2025-09-18T02:45:00.360Z Host has booted",
]
NMI_PSOD = (
    "@BlueScreen: NMI IPI: Panic requested by another PCPU. PC 0x################, SP 0x################ (Src 0x4, "
    "CPU0)"
)


def real_events(vmksummary: list[str], vmkernel: list[str]) -> list[Event]:
    out: list[Event] = []
    for kind, raws in ((LogKind.VMKSUMMARY, vmksummary), (LogKind.VMKERNEL, vmkernel)):
        lines = [layouts.parse_line(r, kind, file=f"{kind.value}.log", line_no=i, host="esx8") for i, r in
                 enumerate(raws, 1)]  # fmt: skip
        out.extend(catalog.events_from_lines(lines))
    return out


def test_kb308590_esxi_crash_that_is_not_lost_heartbeat_does_not_apply() -> None:
    events = real_events(KB317245_UNCLEAN, [NMI_PSOD])
    assert {e.name for e in events} == {"host.memory.sample", "host.boot", "host.psod"}
    [d] = diagnose_kb308590_hosts(events)
    assert d.verdict is DiagVerdict.FALSE and "does not apply" in d.title
    assert "NMI IPI: Panic requested by another PCPU" in d.summary and "no Service Console" in d.summary
    assert not any("Service Console" in r or "cos-core" in r or "Misc.CosCoreFile" in r for r in d.recommendations)
    assert any("purple screen backtrace" in r for r in d.recommendations)
    assert d.figures["samples"] == 2 and "vmksummary sample" in d.summary  # samples: their figures are named


def test_kb308590_esx3_crash_without_lost_heartbeat_text_stays_unknown() -> None:
    """ESX 3.x/4.x has a Service Console: an unclean stop without the Lost Heartbeat text stays undecided."""
    events = [e for e in kb308590_events() if e.name not in ("host.heartbeat.lost",)]
    events = [e if e.name != "host.psod" else ev("host.psod", None, "vmkernel", None, "esxhostname",
                                                  reason="NMI IPI: Panic requested by another PCPU")
              for e in events]  # fmt: skip
    d = diagnose_kb308590(events)
    assert d is not None and d.verdict is DiagVerdict.UNKNOWN
    assert any("Service Console" in r for r in d.recommendations)


def test_kb308590_summary_names_vmksummary_only_with_samples() -> None:
    # a purple screen and nothing from vmksummary: the summary has no vmksummary figures to talk about
    [d] = diagnose_kb308590_hosts(real_events([], [NMI_PSOD]))
    assert d.figures["samples"] == 0
    assert "vmksummary" not in d.summary and "sample" not in d.summary
    # a boot line but no hourly samples (ESXi 5+ bootstop form): the same, and KB 308590 does not apply
    [d2] = diagnose_kb308590_hosts(real_events(KB317245_UNCLEAN[2:], [NMI_PSOD]))
    assert d2.verdict is DiagVerdict.FALSE and "sample" not in d2.summary
