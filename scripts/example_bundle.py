"""Build the example vm-support bundles of `make demo` from the two seed KBs' log excerpts.

The excerpts are kept verbatim (placeholders such as <datastore> included); only the masked timestamps
([YYYY-MM-DDTHH:MM:SS]) are replaced by a plausible outage timeline so the triage timeline reads in order.
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 11, 20, 14, 35, 8, 74000, tzinfo=UTC)  # APD start


def _ts(offset_s: float, bracket: bool = True) -> str:
    t = (T0 + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"[{t}]" if bracket else t


# KB 392634, section by section: (seconds after APD start, verbatim line with the KB's masked prefix removed)
KB392634_HOSTD = [
    (
        76.2,
        "warning hostd[2285231] [Originator@6876 sub=IoTracker] In thread 2102958, "
        'fopen("/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx") took over 76 sec.',
    ),
    (
        140.4,
        "warning hostd[2104418] [Originator@6876 sub=IoTracker] In thread 2927571, "
        'fopen("/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx") took over 140 sec.',
    ),
    (
        140.5,
        "info hostd[2102535] [Originator@6876 sub=Libs opID=########-########-####-####-h5:########-##-##-##-####] "
        'DictionaryLoad: Cannot open file "/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx": Input/output error.',
    ),
    (
        140.6,
        "info hostd[2102535] [Originator@6876 sub=Libs opID=########-########-####-####-h5:########-##-##-##-####] "
        "VigorOffline_GenSecPolicy: retry reading /vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx",
    ),
]
KB392634_VMKERNEL = [
    (
        148.0,
        "cpu4:17153319)HBX: 294: '########-####-####-############: HB at offset ####### - Reclaimed heartbeat [Timeout]:",
    ),
    (
        148.0,
        "cpu4:17153319)  [HB state abcdef02 offset 3248128 gen 241 stampUS ######## uuid "
        "########-####-####-############ jrnl <FB 796920> drv 14.81 lockImpl 4 ip ##.###.###.###]",
    ),
    (
        30.0,
        "cpu71:2098688)DOM: DOMOwner_SetLivenessState:7358: Object ########-####-####-####-############ lost liveness [########]",
    ),
    (
        30.1,
        "cpu66:2098672)DOM: DOMOwner_SetLivenessState:7358: Object ########-####-####-####-############ lost liveness [########]",
    ),
]
KB392634_VOBD = [
    (
        0.0,
        "In(14) vobd[2097765]: [APDCorrelator] ##############: [esx.problem.storage.apd.start] Device or filesystem "
        "with identifier [#######-#######] has entered the All Paths Down state.",
    ),
    (
        147.9,
        "In(14) vobd[2097765]: [vmfsCorrelator] ############: [vob.vmfs.nfs.server.restored] Restored connection to "
        'the server ###.###.#.### mount point /<DatastoreName>, mounted as #-#-#-# ("<Datastore Name>")',
    ),
]
KB392634_VMWARE = [
    (149.0 + i * 0.001, line)
    for i, line in enumerate(
        [
            "Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######0] 0xef",
            "Wa(03)+ vcpu-1 -",
            "Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######1] 0xffffb5096e266080",
            "Wa(03)+ vcpu-1 -",
            "Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######2] 0x0",
            "Wa(03)+ vcpu-1 -",
            "Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######3] 0x0",
            "Wa(03)+ vcpu-1 -",
            "Wa(03) vcpu-1 - WinBSOD: Synthetic MSR[0x#######4] 0x0",
        ]
    )
]

# KB 308590 (ESX 3.x): vmksummary history, the PSOD screen's VMNIX lines, and the Service Console meminfo.
KB308590_VMKSUMMARY = """\
Nov 13 01:01:25 esxhostname logger: (1258092085) hb: vmk loaded, 11788095.12, 11788082.860, 73, 153875, 153875, 560000000, VMap-578120, vmware-h-82590, webAcces-27310
Nov 13 02:01:30 esxhostname logger: (1258095690) hb: vmk loaded, 11791700.19, 11791687.911, 73, 153875, 153875, 563900000, VMap-580881, vmware-h-82700, webAcces-27320
Nov 13 03:01:35 esxhostname logger: (1258099291) hb: vmk loaded, 11795301.25, 11795288.970, 73, 153875, 153875, 567468032, VMap-583524, vmware-h-82812, webAcces-27332
Nov 13 04:01:45 esxhostname logger: (1258102905) hb: vmk loaded, 11798915.64, 11798902.253, 73, 153875, 153875, 567468032, VMap-586196, vmware-h-83180, webAcces-27292
Nov 13 07:13:58 esxhostname vmkhalt: (1258114439) Starting system...
"""
KB308590_PSOD = """\
VMware ESX Server [Releasebuild-123630]
Lost heartbeat
@BlueScreen: Lost heartbeat
VMK uptime: 42:14:03:58.308 TSC: 11010722567976450
42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 clt=1).
42:14:03:29.341 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=VMap pid=9173 t=30 to=30 clt=1).
42:14:03:29.508 cpu0:1024)Host: 4781: COS Error: Lost heartbeat
"""
KB308590_MEMINFO = "MemTotal:799732 kB\nHighTotal:0 kB\nLowTotal:799732 kB\nSwapTotal:554168 kB\n"


def _timed(lines: list[tuple[float, str]], bracket: bool = True) -> bytes:
    return "".join(f"{_ts(t, bracket)} {text}\n" for t, text in sorted(lines, key=lambda x: x[0])).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def build(out_dir: Path) -> list[Path]:
    """Write the two example bundles into out_dir and return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kb392634 = out_dir / "esx-esx01-2026-11-20--14.40-3461.tgz"
    top = "esx-esx01-2026-11-20--14.40-3461"
    with tarfile.open(kb392634, "w:gz") as tar:
        _add(tar, f"{top}/var/run/log/hostd.log", _timed(KB392634_HOSTD))
        _add(tar, f"{top}/var/run/log/vmkernel.log", _timed(KB392634_VMKERNEL))
        _add(tar, f"{top}/var/run/log/vobd.log", _timed(KB392634_VOBD))
        _add(tar, f"{top}/vmfs/volumes/<datastore>/<VMName>/vmware.log", _timed(KB392634_VMWARE))
    kb308590 = out_dir / "esx-esxhostname-2009-11-13--07.20-1201.tgz"
    top = "esx-esxhostname-2009-11-13--07.20-1201"
    with tarfile.open(kb308590, "w:gz") as tar:
        _add(tar, f"{top}/var/log/vmksummary", KB308590_VMKSUMMARY.encode())
        _add(tar, f"{top}/var/log/vmkernel", KB308590_PSOD.encode())
        _add(tar, f"{top}/proc/meminfo", KB308590_MEMINFO.encode())
    return [kb392634, kb308590]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir", type=Path)
    for path in build(parser.parse_args().out_dir):
        print(path)


if __name__ == "__main__":
    main()
