"""Registry of every kind of log line the simulated host writes, each with the real line it imitates."""

# A writer (vmkernel, vobd, hostd, vmware.log, vmksummary) only accepts a LineKind, so every line the simulator
# writes has an entry here: the format the simulator renders, a regex template of the message body, and a real
# line (verbatim, with its source) that the template must match. tests/unit/test_log_fidelity.py renders every
# kind in both version profiles and checks it against its template and the template against the real line.
# Where no real sample of a line exists, `derive` names the textual substitutions that turn the real sibling line
# into the simulated one (e.g. "Restored" -> "Lost"): the kind is then reported as extrapolated, never passed off
# as verified.

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LogName = Literal["vmkernel", "vobd", "hostd", "vmware", "vmksummary"]


@dataclass(frozen=True)
class LineKind:
    """One kind of line: `text` (str.format) renders the body; `template` (regex) must match it and `real`."""

    name: str
    log: LogName
    text: str
    template: str
    real: str  # a real line, verbatim (masked parts are the source's own)
    source: str
    sample: Mapping[str, object]  # field values the fidelity test renders the kind with
    level: str = "info"  # vmkernel: "warning" also goes to vmkwarning; hostd/vmware.log: the line's level
    real_is_body: bool = False  # the source quotes the message body only (no timestamp/prefix)
    derive: tuple[tuple[str, str], ...] = ()  # extrapolated: substitutions real -> the simulated line's shape
    note: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. vmksummary program name

    def render(self, **fields: object) -> str:
        return self.text.format(**fields)


KINDS: dict[str, LineKind] = {}


def _kind(**spec: object) -> LineKind:
    kind = LineKind(**spec)  # type: ignore[arg-type]
    if kind.name in KINDS:
        raise ValueError(f"line kind {kind.name} declared twice")
    KINDS[kind.name] = kind
    return kind


# Line prefixes per log and profile; the body is what a LineKind renders. Each was read off real lines (the
# fidelity test checks them against HEADER_SAMPLES).
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
HEADERS: dict[tuple[str, str], str] = {
    ("vmkernel", "7.0"): TS + r" cpu\d+:\d+(?: opID=\w+)?\)(?P<body>.*)",
    ("vmkernel", "8.0"): TS + r" (?:In\(182\) vmkernel|Wa\(180\) vmkwarning): cpu\d+:\d+(?: opID=\w+)?\)(?P<body>.*)",
    ("vobd", "7.0"): TS + r": (?P<body>.*)",
    ("vobd", "8.0"): TS + r" In\(14\) vobd\[\d+\]:  (?P<body>.*)",
    ("hostd", "7.0"): TS + r" (?:(?:verbose|info|warning|error) hostd\[\d+\] )?(?P<body>.*)",
    ("hostd", "8.0"): TS + r" (?:(?:Db\(167\)|In\(166\)|Wa\(164\)|Er\(163\)) Hostd\[\d+\]: )?(?P<body>.*)",
    ("vmware", "7.0"): TS + r"\| [\w-]+\| [IWE]\d{3}: (?P<body>.*)",
    ("vmware", "8.0"): TS + r" (?:In\(05\)|Wa\(03\)|Er\(02\)) [\w-]+ (?:-|\S+) (?P<body>.*)",
    ("vmksummary", "7.0"): r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?P<prog>\w+): (?P<body>.*)",
    ("vmksummary", "8.0"): TS + r" (?P<prog>\w+)\[\d+\]: (?P<body>.*)",
}
HEADER_SAMPLES: dict[tuple[str, str], str] = {
    # log-samples/vmkernel.log.txt, OneNote export, ESXi 7.0
    ("vmkernel", "7.0"): "2020-06-29T00:34:55.357Z cpu5:2098330)ScsiDeviceIO: 3449: Cmd(0x459bc1c67e00) 0x28, CmdSN "
    '0x4dc1a2 from world 0 to dev "naa.600a09803831353173244d7069347a6a" failed H:0x7 D:0x0 P:0x0 Invalid sense '
    "data: 0xfb 0x7f 0x41.",
    # public GitHub file (SmartX NFS failover notes, ESXi 8), see NFSLOCK_STOP
    ("vmkernel", "8.0"): "2023-12-07T05:07:09.945Z Wa(180) vmkwarning: cpu3:2097803)WARNING: NFS: 5544: NFS volume "
    "fi-0753971d-bf82-42f2-a175-d2ac9f412633 performance has deteriorated. I/O latency increased from average value "
    "of 0(us) to 10614(us). Exceeded threshold 10000(us)",
    # log-samples/vobd.log.txt, VMware Support Insider blog (ESXi 5.0 layout, kept through 7.0 per KB 421596)
    ("vobd", "7.0"): "2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] "
    "scsiPath vmhba2:C0:T1:L1 changed state from on",
    # log-samples/vobd.log.txt, KB 421596 (8.0 layout; the KB masks the date)
    ("vobd", "8.0"): "2025-01-02T03:04:05.737Z In(14) vobd[2097521]:  [UserLevelCorrelator] 1012726884193us: "
    "[vob.user.ssh.session.closed] SSH session was closed for '…'.",
    # log-samples/hostd.log.txt, OneNote export, ESXi 7.0
    ("hostd", "7.0"): "2020-06-26T06:22:54.501Z info hostd[2099996] [Originator@6876 sub=vm] DictionaryLoad: Cannot "
    'open file "/vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2007/cnsu01ls2007.vmx": Connection '
    "timed out.",
    # log-samples/hostd.log.txt, lnav format samples (ESXi 8.0)
    (
        "hostd",
        "8.0",
    ): "2024-03-26T04:31:17.959Z In(166) Hostd[2098914]: [Originator@6876 sub=Libs opID=539bc6dd-c7-c39c "
    "sid=52370179 user=vpxuser:VSPHERE.LOCAL\\vpxd-extension-a86d81ba-5ea8-47e4-ae55-c91f3dc2ece9] notFound(403)",
    # log-samples/vmware.log.txt, open-vm-tools#327 (ESXi 6.x layout, unchanged in 7.0)
    ("vmware", "7.0"): "2019-03-14T12:03:04.445Z| vmx| I125: Tools: Changing running status: 2 => 1.",
    # log-samples/vmware.log.txt, ESXi DFIR cheat-sheet (ESXi 8.0)
    ("vmware", "8.0"): "2023-12-05T17:42:40.741Z In(05) vcpu-0 - SnapshotVMXTakeSnapshotWork: Initiated lazy "
    "snapshot 'snapshot_exfill': 2",
    # log-samples/vmksummary.txt, KB 2004566 (5.x-7.0: no milliseconds, bare program name)
    ("vmksummary", "7.0"): "2011-08-30T04:00:01Z heartbeat: up 0d17h24m17s, 0 VMs; [[3411 sfcb-pycim 12516kB] "
    "[3041 vpxa-worker 12668kB] [2723 hostd-worker 33844kB]] []",
    # log-samples/vmksummary.txt, KB 317245 (7/8)
    ("vmksummary", "8.0"): "2025-09-18T01:00:00.360Z heartbeat[14118500]: up 22d1h40m22s, 10 VMs; [[2109036 vmx "
    "16752988kB] [2115283 vmx 16775168kB] [2112238 vmx 44607488kB]] []",
}
# 8.0 vmware.log continuation marker after each WinBSOD line but the last (KB 392634 / KB 417490).
CONTINUATION_80 = TS + r" Wa\(03\)\+ [\w-]+ -"

_HEX = r"0x[0-9a-f]+"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAA = r"naa\.[0-9a-f]+"

SMARTX = "public GitHub file (SmartX NFS failover notes, ESXi 8.0, 2023-12-07; search index id 6881350959)"
HAUC = "log-samples/vmkernel.log.txt: HAUC ESXi notes (ESXi 6.5/6.7 software iSCSI APD)"
KB392634 = "Broadcom KB 392634 (ESXi 7/8), log-samples/hostd.log.txt and the audit's A7 row"

# ------------------------------------------------------------------------------------------------ vmkernel
APD_HANDLE = _kind(
    name="vmkernel.apd.handle_created",
    log="vmkernel",
    text="StorageApdHandler: 982: APD Handle  Created with lock[StorageApd-0x{handle:x}]",
    template=r"StorageApdHandler: \d+: APD Handle  Created with lock\[StorageApd-0x[0-9a-f]+\]",
    real="StorageApdHandler: 982: APD Handle  Created with lock[StorageApd-0x430a28b09130]",
    real_is_body=True,
    source="sim-realism-audit.md C3 (ESXi 6.x vmkernel line, quoted body only)",
    sample={"handle": 0x430A28B09130},
)
NFS_MOUNTED = _kind(
    name="vmkernel.nfs.mounted",
    log="vmkernel",
    text="NFS: 317: NFS mount succeeded for {server}:{export} volume {label}.",
    template=r"NFS: \d+: NFS mount succeeded for \S+:/\S* volume \S+\.",
    real="2023-12-07T05:04:55.162Z In(182) vmkernel: cpu10:2099084 opID=a9f5cca4)NFS: 317: NFS mount succeeded for "
    "192.168.33.2:/zbs/fi-0753971d-bf82-42f2-a175-d2ac9f412633 volume fi-0753971d-bf82-42f2-a175-d2ac9f412633.",
    source=SMARTX,
    sample={"server": "198.18.1.21", "export": "/ds-nfs01", "label": "ds-nfs01"},
)
APD_START = _kind(
    name="vmkernel.apd.start",
    log="vmkernel",
    text="StorageApdHandler: 1205: APD start for 0x{handle:x} [{ident}]",
    template=r"StorageApdHandler: \d+: APD start for 0x[0-9a-f]+ \[\S+\]",
    real="2018-07-06T21:02:11.204Z cpu0:65641)StorageApdHandler: 1205: APD start for 0x4302ff581ad0 "
    "[naa.60014055c425cd10a874374b415629b3]",
    source=HAUC,
    sample={"handle": 0x4302FF581AD0, "ident": "3caac754-8a21b37f"},
)
APD_TIMEOUT = _kind(
    name="vmkernel.apd.timeout",
    log="vmkernel",
    text="StorageApdHandler: 609: APD timeout for 0x{handle:x} [{ident}]",
    template=r"StorageApdHandler: \d+: APD timeout for 0x[0-9a-f]+ \[\S+\]",
    real=APD_START.real,
    source=HAUC,
    derive=(("1205: APD start", "609: APD timeout"),),
    note="no real sample of the timeout line found; wording and line number follow the real APD start line",
    sample={"handle": 0x4302FF581AD0, "ident": "3caac754-8a21b37f"},
)
APD_EXIT = _kind(
    name="vmkernel.apd.exit",
    log="vmkernel",
    text="StorageApdHandler: 507: APD exit for 0x{handle:x} [{ident}]",
    template=r"StorageApdHandler: \d+: APD exit for 0x[0-9a-f]+ \[\S+\]",
    real=APD_START.real,
    source=HAUC,
    derive=(("1205: APD start", "507: APD exit"),),
    note="no real sample of the exit line found; wording and line number follow the real APD start line",
    sample={"handle": 0x4302FF581AD0, "ident": "3caac754-8a21b37f"},
)
_NFS_RESTORED_REAL = (
    "2023-12-07T05:04:55.162Z In(182) vmkernel: cpu10:2099084 opID=a9f5cca4)NFS: 340: Restored connection to the "
    "server 192.168.33.2 mount point /zbs/fi-0753971d-bf82-42f2-a175-d2ac9f412633, mounted as "
    'f0102e1f-41b7b812-0000-000000000000 ("fi-0753971d-bf82-42f2-a175-d2ac9f412$'
)
_NFS_WHERE = r"the server \S+ mount point /\S*, mounted as " + _UUID + r' \("[^"]+"\)'
NFS_RESTORED = _kind(
    name="vmkernel.nfs.restored",
    log="vmkernel",
    text='NFS: 340: Restored connection to the server {server} mount point {export}, mounted as {uuid} ("{label}")',
    template=r"NFS: \d+: Restored connection to " + _NFS_WHERE,
    real=_NFS_RESTORED_REAL,
    source=SMARTX,
    derive=(("d2ac9f412$", 'd2ac9f412633")'),),
    note="the real line was cut by the author's terminal ('$'); only its end is completed",
    sample={
        "server": "198.18.1.21",
        "export": "/ds-nfs01",
        "uuid": "3caac754-8a21b37f-0000-000000000000",
        "label": "ds-nfs01",
    },
)
NFS_LOST = _kind(
    name="vmkernel.nfs.lost",
    log="vmkernel",
    text='NFS: 349: Lost connection to the server {server} mount point {export}, mounted as {uuid} ("{label}")',
    template=r"NFS: \d+: Lost connection to " + _NFS_WHERE,
    real=_NFS_RESTORED_REAL,
    source=SMARTX,
    derive=(("340: Restored", "349: Lost"), ("d2ac9f412$", 'd2ac9f412633")')),
    note="no real copy of the 'Lost connection' vmkernel line found (audit B5): the restored line's twin",
    sample=NFS_RESTORED.sample,
)
NFS_RETRY = _kind(
    name="vmkernel.nfs.retry",
    log="vmkernel",
    text="NFS: 6339: Status:No connection. Retrying synchronous write I/O {attempt} of 25 times",
    template=r"NFS: \d+: Status:No connection\. Retrying synchronous write I/O \d+ of 25 times",
    real="2023-12-07T05:06:49.241Z In(182) vmkernel: cpu7:2097365)NFS: 6339: Status:No connection. Retrying "
    "synchronous write I/O 1 of 25 times",
    source=SMARTX,
    sample={"attempt": 1},
)
NFSLOCK_STOP = _kind(
    name="vmkernel.nfslock.stop",
    log="vmkernel",
    text="NFSLock: 1505: Stop accessing fd 0x{fd:x}({file})  3",
    template=r"NFSLock: \d+: Stop accessing fd 0x[0-9a-f]+\([^()\s]+\)  3",
    real="2023-12-07T05:07:24.239Z In(182) vmkernel: cpu1:2097803)NFSLock: 1505: Stop accessing fd "
    "0x43088f419390(testvm02.vmx.lck)  3",
    source=SMARTX,
    sample={"fd": 0x43088F419390, "file": "win01-flat.vmdk"},
)
NFSLOCK_START = _kind(
    name="vmkernel.nfslock.start",
    log="vmkernel",
    text="NFSLock: 1469: Start accessing fd 0x{fd:x}({file}) again",
    template=r"NFSLock: \d+: Start accessing fd 0x[0-9a-f]+\([^()\s]+\) again",
    real="2023-12-07T05:07:34.039Z In(182) vmkernel: cpu1:2097803)NFSLock: 1469: Start accessing fd "
    "0x43088f601770(testvm02-flat.vmdk) again",
    source=SMARTX,
    sample={"fd": 0x43088F601770, "file": "win01-flat.vmdk"},
)
NFS_LATENCY = _kind(
    name="vmkernel.nfs.latency_increased",
    log="vmkernel",
    level="warning",
    text="NFS: 5544: NFS volume {label} performance has deteriorated. I/O latency increased from average value of "
    "{before}(us) to {after}(us). Exceeded threshold 10000(us)",
    template=r"WARNING: NFS: \d+: NFS volume \S+ performance has deteriorated\. I/O latency increased from average "
    r"value of \d+\(us\) to \d+\(us\)\. Exceeded threshold 10000\(us\)",
    real=HEADER_SAMPLES[("vmkernel", "8.0")],
    source=SMARTX,
    sample={"label": "ds-nfs01", "before": 812, "after": 14208},
)
NFS_LATENCY_AVG = _kind(
    name="vmkernel.nfs.latency_deteriorated",
    log="vmkernel",
    level="warning",
    text="NFS: 5506: NFS volume {label} performance has deteriorated. I/O latency increased from average value of "
    "{before}(us) to {after}(us).",
    template=r"WARNING: NFS: \d+: NFS volume \S+ performance has deteriorated\. I/O latency increased from average "
    r"value of \d+\(us\) to \d+\(us\)\.",
    real="2023-12-07T05:08:21.489Z Wa(180) vmkwarning: cpu8:2097803)WARNING: NFS: 5506: NFS volume "
    "fi-0753971d-bf82-42f2-a175-d2ac9f412633 performance has deteriorated. I/O latency increased from average "
    "value of 11405(us) to 117255(us).",
    source=SMARTX,
    sample={"label": "ds-nfs01", "before": 11405, "after": 117255},
)
_ISCSI_HEAD = r"vmhba\d+:CH:\d+ T:\d+ CN:\d+"
ISCSI_RX_FAILED = _kind(
    name="vmkernel.iscsi.rx_failed",
    log="vmkernel",
    level="warning",
    text="iscsi_vmk: iscsivmk_ConnReceiveAtomic: {head}: Failed to receive data: {cause}",
    template=r"WARNING: iscsi_vmk: iscsivmk_ConnReceiveAtomic: " + _ISCSI_HEAD + r": Failed to receive data: .+",
    real="2018-07-06T21:02:01.201Z cpu14:66536)WARNING: iscsi_vmk: iscsivmk_ConnReceiveAtomic: vmhba64:CH:0 T:0 "
    "CN:0: Failed to receive data: Connection closed by peer",
    source=HAUC,
    sample={"head": "vmhba64:CH:0 T:0 CN:0", "cause": "Connection closed by peer"},
)
ISCSI_SESS = _kind(
    name="vmkernel.iscsi.sess",
    log="vmkernel",
    level="warning",
    text="iscsi_vmk: {fn}: Sess [ISID: 00023d000001 TARGET: {iqn} TPGT: 1 TSIH: 0]",
    template=r"WARNING: iscsi_vmk: iscsivmk_\w+: Sess \[ISID: [0-9a-f]{12} TARGET: \S+ TPGT: \d+ TSIH: \d+\]",
    real="2018-07-06T21:02:01.201Z cpu14:66536)WARNING: iscsi_vmk: iscsivmk_ConnReceiveAtomic: Sess [ISID: "
    "00023d000001 TARGET: iqn.2018-03.nec.com: TPGT: 1 TSIH: 0]",
    source=HAUC,
    sample={"fn": "iscsivmk_ConnReceiveAtomic", "iqn": "iqn.2026-01.lab.faultlab:lun1"},
)
ISCSI_CONN = _kind(
    name="vmkernel.iscsi.conn",
    log="vmkernel",
    level="warning",
    text="iscsi_vmk: {fn}: Conn [CID: 0 L: {local} R: {remote}]",
    template=r"WARNING: iscsi_vmk: iscsivmk_\w+: Conn \[CID: \d+ L: [\d.]+:\d+ R: [\d.]+:\d+\]",
    real="2018-07-06T21:02:22.556Z cpu31:66696)WARNING: iscsi_vmk: iscsivmk_StartConnection: Conn [CID: 0 L: "
    "172.31.254.21:18064 R: 172.31.254.10:3260]",
    source=HAUC,
    sample={"fn": "iscsivmk_StartConnection", "local": "198.18.0.1:58200", "remote": "198.18.2.21:3260"},
)
ISCSI_RX_NOTIFY = _kind(
    name="vmkernel.iscsi.rx_notify_failure",
    log="vmkernel",
    text="iscsi_vmk: iscsivmk_ConnRxNotifyFailure: {head}: Connection rx notifying failure: Failed to Receive. "
    "State=Online",
    template=r"iscsi_vmk: iscsivmk_ConnRxNotifyFailure: " + _ISCSI_HEAD + r": Connection rx notifying failure: "
    r"Failed to Receive\. State=Online",
    real="2018-07-06T21:02:01.202Z cpu14:66536)iscsi_vmk: iscsivmk_ConnRxNotifyFailure: vmhba64:CH:0 T:0 CN:0: "
    "Connection rx notifying failure: Failed to Receive. State=Online",
    source=HAUC,
    sample={"head": "vmhba64:CH:0 T:0 CN:0"},
)
ISCSI_OFFLINE = _kind(
    name="vmkernel.iscsi.offline",
    log="vmkernel",
    level="warning",
    text='iscsi_vmk: iscsivmk_StopConnection: {head}: iSCSI connection is being marked "OFFLINE" (Event:6)',
    template=r"WARNING: iscsi_vmk: iscsivmk_StopConnection: " + _ISCSI_HEAD + r": iSCSI connection is being marked "
    r'"OFFLINE" \(Event:\d+\)',
    real="2018-07-06T21:02:01.202Z cpu28:66292)WARNING: iscsi_vmk: iscsivmk_StopConnection: vmhba64:CH:0 T:0 CN:0: "
    'iSCSI connection is being marked "OFFLINE" (Event:6)',
    source=HAUC,
    sample={"head": "vmhba64:CH:0 T:0 CN:0"},
)
ISCSI_ONLINE = _kind(
    name="vmkernel.iscsi.online",
    log="vmkernel",
    level="warning",
    text='iscsi_vmk: iscsivmk_StartConnection: {head}: iSCSI connection is being marked "ONLINE"',
    template=r"WARNING: iscsi_vmk: iscsivmk_StartConnection: " + _ISCSI_HEAD + r": iSCSI connection is being marked "
    r'"ONLINE"',
    real="2018-07-06T21:02:22.556Z cpu31:66696)WARNING: iscsi_vmk: iscsivmk_StartConnection: vmhba64:CH:0 T:0 CN:0: "
    'iSCSI connection is being marked "ONLINE"',
    source=HAUC,
    sample={"head": "vmhba64:CH:0 T:0 CN:0"},
)
NMP_THROTTLE = _kind(
    name="vmkernel.nmp.cmd_failed",
    log="vmkernel",
    text='NMP: nmp_ThrottleLogForDevice:3617: Cmd 0x2a (0x{cmd:x}, {world}) to dev "{naa}" on path "{path}" '
    "Failed: H:0x2 D:0x0 P:0x0 Invalid sense data: 0x0 0x0 0x0. Act:EVAL",
    template=r'NMP: nmp_ThrottleLogForDevice:\d+: Cmd 0x[0-9a-f]{2} \(0x[0-9a-f]+, \d+\) to dev "\S+" on path '
    r'"vmhba\d+:C\d+:T\d+:L\d+" Failed: H:0x\d D:0x\d P:0x\d Invalid sense data: 0x0 0x0 0x0\. Act:EVAL',
    real="2018-07-06T21:02:01.265Z cpu2:66518)NMP: nmp_ThrottleLogForDevice:3617: Cmd 0x2a (0x43950c44a000, 65575) "
    'to dev "naa.60014055c425cd10a874374b415629b3" on path "vmhba64:C0:T0:L0" Failed: H:0x2 D:0x0 P:0x0 Invalid '
    "sense data: 0x0 0x0 0x0. Act:EVAL",
    source=HAUC,
    sample={"cmd": 0x45B8C1C67E00, "world": 2099321, "naa": "naa.6001405abcdef", "path": "vmhba64:C0:T0:L1"},
)
NMP_REPEATED = _kind(
    name="vmkernel.nmp.repeated",
    log="vmkernel",
    text="NMP: nmp_ThrottleLogForDevice:3546: last error status from device {naa} repeated {count} times",
    template=r"NMP: nmp_ThrottleLogForDevice:\d+: last error status from device \S+ repeated \d+ times",
    real="2017-02-25T17:34:15.762Z cpu3:65563)NMP: nmp_ThrottleLogForDevice:3546: last error status from device "
    "t10.ATA_____Crucial_CT1050MX300SSD4_________________________163713E82C00 repeated 10 times",
    source="log-samples/vmkernel.log.txt: cunnie/docs (ESXi 6.5)",
    sample={"naa": "naa.6001405abcdef", "count": 10},
)
NMP_FAST_PROBE = _kind(
    name="vmkernel.nmp.state_in_doubt",
    log="vmkernel",
    level="warning",
    text='NMP: nmp_DeviceRequestFastDeviceProbe:237: NMP device "{naa}" state in doubt; requested fast path state '
    "update...",
    template=r'WARNING: NMP: nmp_DeviceRequestFastDeviceProbe:\d+: NMP device "\S+" state in doubt; requested fast '
    r"path state update\.\.\.",
    real="2018-07-06T21:02:01.265Z cpu2:66518)WARNING: NMP: nmp_DeviceRequestFastDeviceProbe:237: NMP device "
    '"naa.60014055c425cd10a874374b415629b3" state in doubt; requested fast path state update...',
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
SCSI_CMD_FAILED = _kind(
    name="vmkernel.scsi.cmd_failed",
    log="vmkernel",
    text='ScsiDeviceIO: 3449: Cmd(0x{cmd:x}) 0x{op:x}, CmdSN 0x{sn:x} from world {world} to dev "{naa}" failed '
    "H:0x{host:x} D:0x0 P:0x0 {sense}",
    template=r'ScsiDeviceIO: \d+: Cmd\(0x[0-9a-f]+\) 0x[0-9a-f]{2}, CmdSN 0x[0-9a-f]+ from world \d+ to dev "\S+" '
    r"failed H:0x[0-9a-f] D:0x[0-9a-f] P:0x0 (?:Invalid|Valid|Possible) sense data: 0x[0-9a-f]+ 0x[0-9a-f]+ "
    r"0x[0-9a-f]+\.?",
    real=HEADER_SAMPLES[("vmkernel", "7.0")],
    source="log-samples/vmkernel.log.txt: OneNote export (ESXi 7.0, 7/8 form with 'from world N')",
    sample={
        "cmd": 0x45B8C1C67E00,
        "op": 0x2A,
        "sn": 0x1F3A,
        "world": 2099321,
        "naa": "naa.6001405abcdef",
        "host": 1,
        "sense": "Invalid sense data: 0x0 0x0 0x0.",
    },
)
PDL_CMD_FAILED = _kind(
    name="vmkernel.scsi.pdl_cmd_failed",
    log="vmkernel",
    text='ScsiDeviceIO: 4325: Cmd(0x{cmd:x}) 0x2a, CmdSN 0x{sn:x} from world {world} to dev "{naa}" failed '
    "H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0",
    template=r'ScsiDeviceIO: \d+: Cmd\(0x[0-9a-f]+\) 0x[0-9a-f]{2}, CmdSN 0x[0-9a-f]+ from world \d+ to dev "\S+" '
    r"failed H:0x0 D:0x2 P:0x0 Valid sense data: 0x[0-9a-f] 0x[0-9a-f]+ 0x0",
    real='ScsiDeviceIO: 4325: Cmd(0x45be74dae040) 0x28, CmdSN 0xd65263a8 from world 0 to dev "naa.#####" failed '
    "H:0x0 D:0x2 P:0x0 Valid sense data: 0x3 0x11 0x0",
    real_is_body=True,
    source="Broadcom KB 326859 (ESXi 7.0; quoted in the audit's B7 row); sense 0x5 0x25 0x0 = LUN not supported "
    "(KB 2004684)",
    sample={"cmd": 0x45BE74DAE040, "sn": 0xD65263A8, "world": 2099321, "naa": "naa.6001405abcdef"},
)
PDL_REMOVED = _kind(
    name="vmkernel.scsi.pdl",
    log="vmkernel",
    level="warning",
    text="ScsiDevice: 1223: Device :{naa} has been removed or is permanently inaccessible.",
    template=r"WARNING: ScsiDevice: \d+: Device :\S+ has been removed or is permanently inaccessible\.",
    real="2011-08-09T10:43:26.857Z cpu2:853571)WARNING: ScsiDevice: 1223: Device "
    ":naa.60a98000572d54724a34642d71325763 has been removed or is permanently inaccessible.",
    source="log-samples/vmkernel.log.txt: KB 2004684 (ESXi 5.0; no 7/8 copy found, line number unverified there)",
    sample={"naa": "naa.6001405abcdef"},
)
NMP_BLOCKED = _kind(
    name="vmkernel.nmp.blocked",
    log="vmkernel",
    level="warning",
    text='NMP: nmp_DeviceStartLoop:721:NMP Device "{naa}" is blocked. Not starting I/O from device.',
    template=r'WARNING: NMP: nmp_DeviceStartLoop:\d+:NMP Device "\S+" is blocked\. Not starting I/O from device\.',
    real="2011-08-09T10:43:26.858Z cpu3:2132)WARNING: NMP: nmp_DeviceStartLoop:721:NMP Device "
    '"naa.60a98000572d54724a34642d71325763" is blocked. Not starting I/O from device.',
    source="log-samples/vmkernel.log.txt: KB 2004684 (ESXi 5.0)",
    sample={"naa": "naa.6001405abcdef"},
)
HBX_APD_START = _kind(
    name="vmkernel.hbx.apd_start",
    log="vmkernel",
    text="HBX: 6214: APD EventType: APD_START (3) for vol '{label}'",
    template=r"HBX: \d+: APD EventType: APD_START \(3\) for vol '[^']+'",
    real="2018-07-06T21:02:11.204Z cpu0:65641)HBX: 6214: APD EventType: APD_START (3) for vol 'iSCSI'",
    source=HAUC,
    sample={"label": "ds-vmfs01"},
)
HBX_APD_EXIT = _kind(
    name="vmkernel.hbx.apd_exit",
    log="vmkernel",
    text="HBX: 6214: APD EventType: APD_EXIT (4) for vol '{label}'",
    template=r"HBX: \d+: APD EventType: APD_EXIT \(4\) for vol '[^']+'",
    real="2018-07-06T21:02:22.559Z cpu2:65629)HBX: 6214: APD EventType: APD_EXIT (4) for vol 'iSCSI'",
    source=HAUC,
    sample={"label": "ds-vmfs01"},
)
SCSI_APD_START = _kind(
    name="vmkernel.scsi.apd_start",
    log="vmkernel",
    text="ScsiDevice: 4993: Device state of {naa} set to APD_START; token num:1",
    template=r"ScsiDevice: \d+: Device state of \S+ set to APD_START; token num:\d+",
    real="2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
    "set to APD_START; token num:1",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
SCSI_STATE_BACK = _kind(
    name="vmkernel.scsi.state_back",
    log="vmkernel",
    text="ScsiDevice: 5015: Setting Device {naa} state back to 0x2",
    template=r"ScsiDevice: \d+: Setting Device \S+ state back to 0x2",
    real="2018-07-06T21:02:22.556Z cpu0:65642)ScsiDevice: 5015: Setting Device naa.60014055c425cd10a874374b415629b3 "
    "state back to 0x2",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
SCSI_OUT_OF_APD = _kind(
    name="vmkernel.scsi.out_of_apd",
    log="vmkernel",
    text="ScsiDevice: 5036: Device {naa} is Out of APD; token num:1",
    template=r"ScsiDevice: \d+: Device \S+ is Out of APD; token num:\d+",
    real="2018-07-06T21:02:22.556Z cpu0:65642)ScsiDevice: 5036: Device naa.60014055c425cd10a874374b415629b3 is Out "
    "of APD; token num:1",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
HBX_WAITING = _kind(
    name="vmkernel.hbx.waiting",
    log="vmkernel",
    text="HBX: 2956: '{label}': HB at offset {offset} - Waiting for timed out HB:",
    template=r"HBX: \d+: '[^']+': HB at offset \d+ - Waiting for timed out HB:",
    real="2017-02-25T18:19:29.783Z cpu3:68444)HBX: 2956: 'ssd': HB at offset 3735552 - Waiting for timed out HB:",
    source="log-samples/vmkernel.log.txt: cunnie/docs (ESXi 6.5)",
    sample={"label": "ds-vmfs01", "offset": 3248128},
)
_SEED = "seeds/000 (KB 392634, ESXi 7/8; the KB masks names, numbers and addresses)"
HBX_RECLAIMED = _kind(
    name="vmkernel.hbx.reclaimed",
    log="vmkernel",
    text="HBX: 294: '{label}': HB at offset {offset} - Reclaimed heartbeat [Timeout]:",
    template=r"HBX: \d+: '[^']+': HB at offset \d+ - Reclaimed heartbeat \[Timeout\]:",
    real="[YYYY-MM-DDTHH:MM:SS] cpu4:17153319)HBX: 294: '########-####-####-############: HB at offset ####### - "
    "Reclaimed heartbeat [Timeout]:",
    derive=(("'########-####-####-############:", "'ds-vmfs01':"), ("#######", "3248128")),
    note="the KB masks the quoted name (and its closing quote) and the offset; cunnie's 6.5 'ssd' line shows the "
    "label is quoted",
    source=_SEED,
    sample={"label": "ds-vmfs01", "offset": 3248128},
)
HB_STATE = _kind(
    name="vmkernel.hbx.state",
    log="vmkernel",
    text="  [HB state abcdef02 offset {offset} gen {gen} stampUS {stamp} uuid {host_uuid} jrnl <FB {jrnl}> "
    "drv {drv} lockImpl {impl} ip {ip}]",
    template=r"  \[HB state abcdef02 offset \d+ gen \d+ stampUS \d+ uuid " + _UUID + r" jrnl <FB \d+> drv [\d.]+ "
    r"lockImpl \d+ ip [\d.]+\]",
    real="[YYYY-MM-DDTHH:MM:SS] cpu4:17153319)  [HB state abcdef02 offset 3248128 gen 241 stampUS ######## uuid "
    "########-####-####-############ jrnl <FB 796920> drv 14.81 lockImpl 4 ip ##.###.###.###]",
    derive=(
        ("stampUS ########", "stampUS 3215271416"),
        ("########-####-####-############", "50a0d5d0-96130a3c-4332-e61f131d9a43"),
        ("##.###.###.###", "10.100.120.131"),
    ),
    note="masked fields filled; the uuid is the HOST's (vmfs-tools struct vmfs_heartbeat; elatov's 5.0 line shows "
    "the same HB uuid on two volumes), shaped like elatov's 50a0d5d0-96130a3c-4332-e61f131d9a43",
    source=_SEED,
    sample={
        "offset": 3248128,
        "gen": 12,
        "stamp": 95123456,
        "host_uuid": "67a1f3c2-5d0e9b14-8a21-005056a1b2c3",
        "jrnl": 796920,
        "drv": "24.82",
        "impl": 4,
        "ip": "198.18.2.1",
    },
)

# ------------------------------------------------------------------------------------------------ vobd
# vobd bodies: `[Correlator] <us>us: [event.id] text`. The esx.* twin of a vob carries an uptime from another clock:
# KB 323075 (vob 1960326656825us / esx 1960324330689us) and the VPLEX blog (…0122975us / …3124828us) show a near
# constant per-host offset of a few seconds, either sign, while the two lines' timestamps are a millisecond apart.
_VOB = r"\[\w+\] \d+us: "
_APD_REAL = "log-samples/vobd.log.txt: KB 323075 (ESXi 6.x/7.x)"


def _vobd(
    name: str, event: str, corr: str, text: str, template: str, real: str, source: str, **more: object
) -> LineKind:
    return _kind(
        name=name,
        log="vobd",
        text=f"[{corr}] {{us}}us: [{event}] {text}",
        template=_VOB + re.escape(f"[{event}]") + " " + template,
        real=real,
        source=source,
        extra={"event": event},
        **more,
    )


_APD_START_REAL = (
    "YYYY-MM-DDTHH:MM:SS.###Z: [APDCorrelator] 1960326656825us: [vob.storage.apd.start] Device or filesystem with "
    "identifier [mpx.vmhba32:C0:T0:L0] has entered the All Paths Down state."
)
_APD_ID = r"Device or filesystem with identifier \[\S+\] "
VOB_APD_START = _vobd(
    "vobd.vob.apd.start",
    "vob.storage.apd.start",
    "APDCorrelator",
    "Device or filesystem with identifier [{ident}] has entered the All Paths Down state.",
    _APD_ID + r"has entered the All Paths Down state\.",
    _APD_START_REAL,
    _APD_REAL,
    sample={"us": 1960326656825, "ident": "3caac754-8a21b37f"},
)
ESX_APD_START = _vobd(
    "vobd.esx.apd.start",
    "esx.problem.storage.apd.start",
    "APDCorrelator",
    "Device or filesystem with identifier [{ident}] has entered the All Paths Down state.",
    _APD_ID + r"has entered the All Paths Down state\.",
    _APD_START_REAL.replace("1960326656825us: [vob.storage", "1960324330689us: [esx.problem.storage"),
    _APD_REAL,
    sample={"us": 1960324330689, "ident": "3caac754-8a21b37f"},
)
_APD_TIMEOUT_TEXT = (
    "Device or filesystem with identifier [{ident}] has entered the All Paths Down Timeout state after being in the "
    "All Paths Down state for {seconds} seconds. I/Os will now be fast failed."
)
_APD_TIMEOUT_TPL = (
    _APD_ID + r"has entered the All Paths Down Timeout state after being in the All Paths Down state for \d+ seconds\. "
    r"I/Os will now be fast failed\."
)
_APD_TIMEOUT_REAL = (
    "YYYY-MM-DDTHH:MM:SS.###Z: [APDCorrelator] 1960466657332us: [vob.storage.apd.timeout] Device or filesystem with "
    "identifier [mpx.vmhba32:C0:T0:L0] has entered the All Paths Down Timeout state after being in the All Paths "
    "Down state for 140 seconds. I/Os will now be fast failed."
)
VOB_APD_TIMEOUT = _vobd(
    "vobd.vob.apd.timeout",
    "vob.storage.apd.timeout",
    "APDCorrelator",
    _APD_TIMEOUT_TEXT,
    _APD_TIMEOUT_TPL,
    _APD_TIMEOUT_REAL,
    _APD_REAL,
    sample={"us": 1960466657332, "ident": "3caac754-8a21b37f", "seconds": 140},
)
ESX_APD_TIMEOUT = _vobd(
    "vobd.esx.apd.timeout",
    "esx.problem.storage.apd.timeout",
    "APDCorrelator",
    _APD_TIMEOUT_TEXT,
    _APD_TIMEOUT_TPL,
    _APD_TIMEOUT_REAL,
    _APD_REAL,
    derive=(("vob.storage.apd.timeout", "esx.problem.storage.apd.timeout"),),
    note="the KB shows the vob twin of the timeout only; the esx twin's text follows apd.start's pair",
    sample={"us": 1960466657332, "ident": "3caac754-8a21b37f", "seconds": 140},
)
_APD_EXIT_TPL = _APD_ID + r"has exited the All Paths Down state\."
VOB_APD_EXIT = _vobd(
    "vobd.vob.apd.exit",
    "vob.storage.apd.exit",
    "APDCorrelator",
    "Device or filesystem with identifier [{ident}] has exited the All Paths Down state.",
    _APD_EXIT_TPL,
    _APD_START_REAL,
    _APD_REAL,
    derive=(("apd.start] ", "apd.exit] "), ("has entered the", "has exited the")),
    note="the exit text is the event catalog's (vcenter-event-mapping); no vobd copy of the vob.* exit line found",
    sample={"us": 1960326656825, "ident": "3caac754-8a21b37f"},
)
ESX_APD_EXIT = _vobd(
    "vobd.esx.apd.exit",
    "esx.clear.storage.apd.exit",
    "APDCorrelator",
    "Device or filesystem with identifier [{ident}] has exited the All Paths Down state.",
    _APD_EXIT_TPL,
    _APD_START_REAL,
    _APD_REAL,
    derive=(("vob.storage.apd.start] ", "esx.clear.storage.apd.exit] "), ("has entered the", "has exited the")),
    note="the VCF 9.1 forwarded line (audit B2) carries the same text, cut at 'ident…'",
    sample={"us": 1960326656825, "ident": "3caac754-8a21b37f"},
)
_NFS55 = "VMware KB (ESXi 5.5 NFS APD example, quoted in the audit's B6 row)"
VOB_NFS_DISCONNECT = _kind(
    name="vobd.vob.nfs.disconnect",
    log="vobd",
    text="No correlator for vob.vmfs.nfs.server.disconnect",
    template=r"No correlator for vob\.vmfs\.nfs\.server\.disconnect",
    real="No correlator for vob.vmfs.nfs.server.disconnect",
    real_is_body=True,
    source=_NFS55,
    sample={},
)
ESX_NFS_DISCONNECT = _vobd(
    "vobd.esx.nfs.disconnect",
    "esx.problem.vmfs.nfs.server.disconnect",
    "vmfsCorrelator",
    "{server}{export} {uuid} {label}",
    r"\S+/\S* " + _UUID + r" \S+",
    "[vmfsCorrelator] 9414268686us: [esx.problem.vmfs.nfs.server.disconnect] 192.168.1.1/NFS-DS1 "
    "12345678-abcdefg0-0000-000000000000 NFS-DS1",
    _NFS55,
    real_is_body=True,
    derive=(("12345678-abcdefg0-", "12345678-abcdef00-"),),
    note="the KB's placeholder uuid holds a non-hex 'g'",
    sample={"us": 9414268686, "server": "198.18.1.21", "export": "/ds-nfs01", "uuid": NFS_RESTORED.sample["uuid"]},
)
VOB_NFS_RESTORED = _vobd(
    "vobd.vob.nfs.restored",
    "vob.vmfs.nfs.server.restored",
    "vmfsCorrelator",
    'Restored connection to the server {server} mount point {export}, mounted as {uuid} ("{label}")',
    r"Restored connection to " + _NFS_WHERE,
    "[YYYY-MM-DDTHH:MM:SS] In(14) vobd[2097765]: [vmfsCorrelator] ############: [vob.vmfs.nfs.server.restored] "
    'Restored connection to the server ###.###.#.### mount point /<DatastoreName>, mounted as #-#-#-# ("<Datastore '
    'Name>")',
    _SEED,
    derive=(
        ("############:", "9414268686us:"),
        ("###.###.#.###", "198.18.1.21"),
        ("/<DatastoreName>", "/ds-nfs01"),
        ("#-#-#-#", "3caac754-8a21b37f-0000-000000000000"),
        ("<Datastore Name>", "ds-nfs01"),
    ),
    note="the KB masks the uptime, address, export, uuid and name",
    sample={"us": 9414268686, **NFS_RESTORED.sample},
)
ESX_NFS_RESTORED = _vobd(
    "vobd.esx.nfs.restored",
    "esx.clear.vmfs.nfs.server.restored",
    "vmfsCorrelator",
    "{server}{export} {uuid} {label}",
    r"\S+/\S* " + _UUID + r" \S+",
    ESX_NFS_DISCONNECT.real,
    _NFS55,
    real_is_body=True,
    derive=(("esx.problem.vmfs.nfs.server.disconnect", "esx.clear.vmfs.nfs.server.restored"),)
    + ESX_NFS_DISCONNECT.derive,
    note="the disconnect twin's argument layout",
    sample=ESX_NFS_DISCONNECT.sample,
)
_VPLEX = "log-samples/vobd.log.txt: VMware Support Insider blog (ESXi 5.0, VPLEX path loss)"
VOB_PATH_DEAD = _vobd(
    "vobd.vob.path.dead",
    "vob.scsi.scsipath.pathstate.dead",
    "scsiCorrelator",
    "scsiPath {path} changed state from on",
    r"scsiPath vmhba\d+:C\d+:T\d+:L\d+ changed state from on",
    HEADER_SAMPLES[("vobd", "7.0")],
    _VPLEX,
    sample={"us": 1680920122975, "path": "vmhba64:C0:T0:L1"},
)
VOB_PATH_ON = _vobd(
    "vobd.vob.path.on",
    "vob.scsi.scsipath.pathstate.on",
    "scsiCorrelator",
    "scsiPath {path} changed state from dead",
    r"scsiPath vmhba\d+:C\d+:T\d+:L\d+ changed state from dead",
    "2012-05-22T07:02:04.775Z: [scsiCorrelator] 1680920217911us: [vob.scsi.scsipath.pathstate.on] scsiPath "
    "vmhba2:C0:T1:L1 changed state from dead",
    _VPLEX,
    sample={"us": 1680920217911, "path": "vmhba64:C0:T0:L1"},
)
ESX_CONN_LOST = _vobd(
    "vobd.esx.connectivity.lost",
    "esx.problem.storage.connectivity.lost",
    "scsiCorrelator",
    'Lost connectivity to storage device {naa}. Path {path} is down. Affected datastores: "{label}".',
    r"Lost connectivity to storage device \S+\. Path vmhba\d+:C\d+:T\d+:L\d+ is down\. Affected datastores: "
    r'"[^"]*"\.',
    "YYYY-MM-DDTHH:MM:SS.###Z: [scsiCorrelator] 1960324334135us: [esx.problem.storage.connectivity.lost] Lost "
    'connectivity to storage device mpx.vmhba32:C0:T0:L0. Path vmhba32:C0:T0:L0 is down. Affected datastores: "".',
    _APD_REAL,
    sample={"us": 1960324334135, "naa": "naa.6001405abcdef", "path": "vmhba64:C0:T0:L1", "label": "ds-vmfs01"},
)
ESX_CONN_RESTORED = _vobd(
    "vobd.esx.connectivity.restored",
    "esx.clear.storage.connectivity.restored",
    "scsiCorrelator",
    'Connectivity to storage device {naa} (Datastores: "{label}") restored. Path {path} is active again.',
    r'Connectivity to storage device \S+ \(Datastores: "[^"]*"\) restored\. Path vmhba\d+:C\d+:T\d+:L\d+ is active '
    r"again\.",
    "2012-05-22T07:02:04.776Z: [scsiCorrelator] 1680923219503us: [esx.clear.storage.redundancy.restored] Path "
    'redundancy to storage device naa.6000144000000010a00f545a97c5704a (Datastores: "Vplex_HP1") restored. Path '
    "vmhba2:C0:T1:L1 is active again.",
    _VPLEX,
    derive=(
        (
            "esx.clear.storage.redundancy.restored] Path redundancy to",
            "esx.clear.storage.connectivity.restored] Connectivity to",
        ),
    ),
    note="the connectivity.restored text is the catalog's; the vobd layout is the redundancy.restored line's",
    sample={"us": 1680923219503, "naa": "naa.6001405abcdef", "path": "vmhba64:C0:T0:L1", "label": "ds-vmfs01"},
)
_HB_KB = "log-samples/vobd.log.txt: KB 439361 (ESXi 7/8; KB placeholders filled)"
_HB_REAL = (
    "vobd[2098532]  [vmfsCorrelator] 14807596740549us: [vob.vmfs.heartbeat.recovered] Reclaimed heartbeat for volume "
    "<VMFS volume UUID> <DatastoreName>  [Timeout] [HB state abcdef02 offset 3866624 gen 4923 stampUS 14806948640524 "
    "uuid <VMFS volume UUID> jrnl <FB 41943053> drv 24.82]"
)
_HB_FILL = (
    ("vobd[2098532]  ", ""),
    ("<VMFS volume UUID>", "5f3b1c2d-9e8a7b6c-1a2b-005056a1b2c3"),
    ("<DatastoreName>", "ds-vmfs01"),
)
ESX_HB_TIMEDOUT = _vobd(
    "vobd.esx.heartbeat.timedout",
    "esx.problem.vmfs.heartbeat.timedout",
    "vmfsCorrelator",
    "{uuid} {label}",
    _UUID + r" \S+",
    "[vmfsCorrelator] 14807596740549us: [esx.problem.vmfs.heartbeat.timedout] <VMFS volume UUID> <DatastoreName>",
    _HB_KB + "; the KB shows the id and arguments inside its 'sent immediately to hostd' line",
    real_is_body=True,
    derive=_HB_FILL,
    sample={"us": 14807596740549, "uuid": "5f3b1c2d-9e8a7b6c-1a2b-005056a1b2c3", "label": "ds-vmfs01"},
)
VOB_HB_TIMEDOUT = _vobd(
    "vobd.vob.heartbeat.timedout",
    "vob.vmfs.heartbeat.timedout",
    "vmfsCorrelator",
    "{uuid} {label}",
    _UUID + r" \S+",
    ESX_HB_TIMEDOUT.real,
    "raw id in the NetApp/SolidFire CPE parser list (audit B1); its text has no public sample",
    real_is_body=True,
    derive=(("esx.problem.vmfs", "vob.vmfs"), *_HB_FILL),
    note="no real vob.vmfs.heartbeat.timedout line found: it carries the esx twin's arguments",
    sample=ESX_HB_TIMEDOUT.sample,
)
VOB_HB_RECOVERED = _vobd(
    "vobd.vob.heartbeat.recovered",
    "vob.vmfs.heartbeat.recovered",
    "vmfsCorrelator",
    "Reclaimed heartbeat for volume {uuid} {label}  [Timeout] {state}",
    r"Reclaimed heartbeat for volume " + _UUID + r" \S+  \[Timeout\] \[HB state abcdef02 offset \d+ gen \d+ "
    r"stampUS \d+ uuid " + _UUID + r" jrnl <FB \d+> drv [\d.]+(?: lockImpl \d+ ip [\d.]+)?\]",
    _HB_REAL,
    _HB_KB,
    real_is_body=True,
    derive=_HB_FILL,
    sample={
        "us": 14807596740549,
        "uuid": "5f3b1c2d-9e8a7b6c-1a2b-005056a1b2c3",
        "label": "ds-vmfs01",
        "state": HB_STATE.render(**HB_STATE.sample).strip(),
    },
)
ESX_HB_RECOVERED = _vobd(
    "vobd.esx.heartbeat.recovered",
    "esx.problem.vmfs.heartbeat.recovered",
    "vmfsCorrelator",
    "{uuid} {label}",
    _UUID + r" \S+",
    ESX_HB_TIMEDOUT.real,
    _HB_KB,
    real_is_body=True,
    derive=(("heartbeat.timedout", "heartbeat.recovered"), *_HB_FILL),
    note="the timedout twin's argument layout",
    sample=ESX_HB_TIMEDOUT.sample,
)
_PDL_SRC = "event ids from the vSphere event catalog (lamw/vcenter-event-mapping); vobd text after KB 2004684"
VOB_PDL = _vobd(
    "vobd.vob.pdl",
    "vob.scsi.device.state.permanentloss",
    "scsiCorrelator",
    "Device :{naa} has been removed or is permanently inaccessible.",
    r"Device :\S+ has been removed or is permanently inaccessible\.",
    "[scsiCorrelator] 1680920122975us: [vob.scsi.device.state.permanentloss] Device "
    ":naa.60a98000572d54724a34642d71325763 has been removed or is permanently inaccessible.",
    _PDL_SRC,
    real_is_body=True,
    note="no vobd copy found: the vmkernel line's text (KB 2004684) under the real id",
    derive=(),
    sample={"us": 1680920122975, "naa": "naa.6001405abcdef"},
)
ESX_PDL = _vobd(
    "vobd.esx.pdl",
    "esx.problem.scsi.device.state.permanentloss",
    "scsiCorrelator",
    'Device {naa} has been removed or is permanently inaccessible. Affected datastores (if any): "{label}".',
    r'Device \S+ has been removed or is permanently inaccessible\. Affected datastores \(if any\): "[^"]*"\.',
    "[scsiCorrelator] 1680920122975us: [esx.problem.scsi.device.state.permanentloss] Device "
    "naa.60a98000572d54724a34642d71325763 has been removed or is permanently inaccessible. Affected datastores (if "
    'any): "LUN301".',
    _PDL_SRC + " (catalog text of the event)",
    real_is_body=True,
    sample={"us": 1680920122975, "naa": "naa.6001405abcdef", "label": "ds-vmfs01"},
)
ESX_PDL_ONLINE = _vobd(
    "vobd.esx.pdl.deviceonline",
    "esx.clear.scsi.device.state.permanentloss.deviceonline",
    "scsiCorrelator",
    "Device that was permanently inaccessible is now online.",
    r"Device that was permanently inaccessible is now online\.",
    "[scsiCorrelator] 1680920122975us: [esx.clear.scsi.device.state.permanentloss.deviceonline] Device that was "
    "permanently inaccessible is now online.",
    "vSphere 8.0u2 event catalog (lamw/vcenter-event-mapping) text of the id (audit B8)",
    real_is_body=True,
    sample={"us": 1680920122975},
)
VOBD_FORWARDED = _kind(
    name="vobd.forwarded",
    log="vobd",
    text="The event ([{event}] {message}) was sent immediately to hostd;",
    template=r"The event \(\[esx\.(?:problem|clear|audit)\.[\w.]+\] .*\) was sent immediately to hostd;",
    real="vobd[2098532]  The event ([esx.problem.vmfs.heartbeat.timedout] <VMFS volume UUID> <DatastoreName>) was "
    "sent immediately to hostd;",
    real_is_body=True,
    derive=(("vobd[2098532]  ", ""),),
    note="the KB quotes the line after its vobd[pid] tag; written in the 8.0 profile only (7.0 unverified)",
    source=_HB_KB,
    sample={
        "event": "esx.problem.storage.apd.start",
        "message": "Device or filesystem with identifier [x] has entered the All Paths Down state.",
    },
)

# ------------------------------------------------------------------------------------------------ hostd
_ORIG = r"\[Originator@6876 sub=[^\]\s]+(?: opID=\S+)?(?: user=\S+)?\] "
HOSTD_SECTION = _kind(
    name="hostd.section",
    log="hostd",
    text="Section for VMware ESX, pid={pid}, version={version}, build={build}, option=Release",
    template=r"Section for VMware ESX, pid=\d+, version=[\d.]+, build=\d+, option=Release",
    real="2017-01-22T16:44:58.386Z Section for VMware ESX, pid=34652, version=6.0.0, build=3620759, option=Release",
    source="log-samples/hostd.log.txt: vmware/vic#4384 (ESXi 6.0 hostd.log header, a bare line)",
    sample={"pid": 2099712, "version": "8.0.2", "build": 22380479},
)
HOSTD_EVENT = _kind(
    name="hostd.event",
    log="hostd",
    text="[Originator@6876 sub=Vimsvc.ha-eventmgr] Event {key} : {message}",
    template=_ORIG + r"Event \d+ : \S.*",
    real="2018-07-06T21:02:11.204Z info hostd[B781B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3026 : Device or "
    "filesystem with identifier naa.60014055c425cd10a874374b415629b3 has entered the All Paths Down state.",
    source="log-samples/hostd.log.txt: HAUC notes (ESXi 6.5/6.7)",
    sample={"key": 3026, "message": "win01 on esx01 in ha-datacenter is powered on"},
)
HOSTD_STATE = _kind(
    name="hostd.vm.state_transition",
    log="hostd",
    text="[Originator@6876 sub=Vmsvc.vm:{vmx}] State Transition ({old} -> {new})",
    template=_ORIG + r"State Transition \(VM_STATE_[A-Z_]+ -> VM_STATE_[A-Z_]+\)",
    real="2018-07-05T21:55:18.928Z info hostd[6C88890] [Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/5b2cf72d-c314ef74-"
    "0f37-8cdf9d51786c/v-queworx_a/v-queworx_a.vmx] State Transition (VM_STATE_POWERING_ON -> VM_STATE_ON)",
    source="log-samples/hostd.log.txt: HAUC notes (ESXi 6.5/6.7)",
    sample={
        "vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx",
        "old": "VM_STATE_OFF",
        "new": "VM_STATE_POWERING_ON",
    },
)
HOSTD_IOTRACKER = _kind(
    name="hostd.iotracker",
    log="hostd",
    level="warning",
    text='[Originator@6876 sub=IoTracker] In thread {thread}, {op}("{path}") took over {seconds} sec.',
    template=_ORIG + r'In thread \d+, \w+\("[^"]+"\) took over \d+ sec\.',
    real="2020-06-21T19:25:15.633Z warning hostd[2099951] [Originator@6876 sub=IoTracker] In thread 2099995, "
    'stat("/vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2006/cnsu01ls2006.vmx") took over 410 sec.',
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0); KB 392634 shows the fopen form",
    sample={"thread": 2102953, "op": "fopen", "path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx", "seconds": 11},
)
HOSTD_DICTLOAD = _kind(
    name="hostd.dictionaryload",
    log="hostd",
    text='[Originator@6876 sub=vm] DictionaryLoad: Cannot open file "{path}": {reason}.',
    template=_ORIG + r'DictionaryLoad: Cannot open file "[^"]+": [\w/ ]+\.',
    real=HEADER_SAMPLES[("hostd", "7.0")],
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0; sub=vm, no opID)",
    sample={"path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx", "reason": "Input/output error"},
)
HOSTD_VIGOR_RETRY = _kind(
    name="hostd.vigor_retry",
    log="hostd",
    text="[Originator@6876 sub=vm] VigorOffline_GenSecPolicy: retry reading {path}",
    template=_ORIG + r"VigorOffline_GenSecPolicy: retry reading /vmfs/volumes/\S+",
    real="2020-06-26T06:22:54.504Z info hostd[2099996] [Originator@6876 sub=vm] VigorOffline_GenSecPolicy: retry "
    "reading /vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2007/cnsu01ls2007.vmx",
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0)",
    sample={"path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)
HOSTD_GUEST_CRASH = _kind(
    name="hostd.vm.guest_crash",
    log="hostd",
    text="[Originator@6876 sub=Vmsvc.vm:{vmx}] Guest operating system crash detected.",
    template=_ORIG + r"Guest operating system crash detected\.",
    real="[Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/x/y/y.vmx] Guest operating system crash detected.",
    real_is_body=True,
    derive=(),
    note="KB 427504 quotes 'Hostd[#####]: Guest operating system crash detected.' without the Originator tag; "
    "the Vmsvc.vm sub is the State Transition lines' [I]",
    source="log-samples/hostd.log.txt: KB 427504 (ESXi 7.x/8.x)",
    sample={"vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)

# ------------------------------------------------------------------------------------------------ vmware.log
_WS = "public GitHub file (VMware VMX vmware.log case notes, 2026-01-02; search index id 61953925229)"
_GOS = "vmware/ansible-vsphere-gos-validation windows/guest_customization/win_gosc_verify.yml (audit A6)"


def _vmx(name: str, text: str, template: str, real: str, source: str, **more: object) -> LineKind:
    return _kind(name=name, log="vmware", text=text, template=template, real=real, source=source, **more)


VMX_HEADER = _vmx(
    "vmware.header",
    "Log for VMware ESX pid={pid} version={version} build=build-{build} option=Release",
    r"Log for VMware ESX pid=\d+ version=[\d.]+ build=build-\d+ option=Release",
    "Log for VMware ESX pid=<pid> version=<version> build=<build> option=Release",
    "the audit's C9 row (layout); a public power-cycle script greps 'Log for VMware ESX' in vmware.log (search index "
    "id 8575127471). No verbatim header with values found",
    real_is_body=True,
    derive=(("<pid>", "2101894"), ("<version>", "7.0.3"), ("<build>", "build-21930508")),
    note="placeholders filled with a 7.0U3n build and a world-id-range pid",
    sample={"pid": 2101894, "version": "8.0.2", "build": 22380479},
)
VMX_DICT = _vmx(
    "vmware.dict_config",
    "DICT --- CONFIGURATION {vmx} ",
    r"DICT --- CONFIGURATION /\S.*\.vmx ",
    "DICT --- CONFIGURATION /home/arkelsa/vmware/Windows XP Professional/Windows XP Professional.vmx ",
    "public GitHub file (a VMware Workstation vmware.log, search index id 56687534695; the VMX writes the same DICT "
    "header on ESXi); note the trailing space",
    real_is_body=True,
    sample={"vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)
VMX_TOOLS_STATUS = _vmx(
    "vmware.tools.running_status",
    "Tools: Changing running status: {old} => {new}.",
    r"Tools: Changing running status: [0-2] => [0-2]\.",
    HEADER_SAMPLES[("vmware", "7.0")],
    "log-samples/vmware.log.txt: open-vm-tools#327 (ESXi 6.x); 0 => 1 on recovery: " + _WS,
    sample={"old": 0, "new": 1},
)
VMX_TOOLS_RPC = _vmx(
    "vmware.tools.rpc_handler",
    "Tools: Running status rpc handler: {old} => {new}.",
    r"Tools: Running status rpc handler: [01] => [01]\.",
    "2026-01-02T13:06:08.731Z - Tools: Running status rpc handler: 1 => 0.",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:08.731Z - ", ""),),
    note="the notes quote the VMX lines after their timestamp with the level/thread columns removed",
    sample={"old": 1, "new": 0},
)
VMX_TOOLS_LAST_HB = _vmx(
    "vmware.tools.last_heartbeat",
    "Tools: [RunningStatus] Last heartbeat value {value} (last received {ago}s ago)",
    r"Tools: \[RunningStatus\] Last heartbeat value \d+ \(last received \d+s ago\)",
    "2026-01-02T13:06:08.732Z - Tools: [RunningStatus] Last heartbeat value 19519 (last received 20s ago)",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:08.732Z - ", ""),),
    sample={"value": 19519, "ago": 20},
)
VMX_TOOLS_HB_TIMEOUT = _vmx(
    "vmware.tools.heartbeat_timeout",
    "Tools: Tools heartbeat timeout.",
    r"Tools: Tools heartbeat timeout\.",
    "2026-01-02T13:06:08.724Z - Tools: Tools heartbeat timeout.",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:08.724Z - ", ""),),
    sample={},
)
VMX_GUESTRPC_TIMEOUT = _vmx(
    "vmware.guestrpc.timed_out",
    "GuestRpcSendTimedOut: message to toolbox timed out.",
    r"GuestRpcSendTimedOut: message to toolbox timed out\.",
    "2026-01-02T13:06:00.039Z - GuestRpcSendTimedOut: message to toolbox timed out.",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:00.039Z - ", ""),),
    sample={},
)
VMX_TOOLS_APP_STATUS = _vmx(
    "vmware.tools.app_status",
    "TOOLS: appName=toolbox, oldStatus={old}, status={new}, guestInitiated=0.",
    r"TOOLS: appName=toolbox, oldStatus=\d, status=\d, guestInitiated=[01]\.",
    "2026-01-02T13:06:00.039Z - TOOLS: appName=toolbox, oldStatus=1, status=2, guestInitiated=0.",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:00.039Z - ", ""),),
    sample={"old": 1, "new": 2},
)
VMX_WINBSOD = _vmx(
    "vmware.winbsod",
    "WinBSOD: Synthetic MSR[0x{msr:x}] 0x{value:x}",
    r"WinBSOD: Synthetic MSR\[0x4000010[0-4]\] 0x[0-9a-f]+",
    "YYYY-MM-DDTHH:MM:SS.XXXZ vcpu-0 - WinBSOD: Synthetic MSR[0x40000101] 0x4f4454",
    "log-samples/vmware.log.txt: KB 427504 (ESXi 7.x/8.x); the Wa(03) level and continuations: KB 392634/417490",
    real_is_body=True,
    derive=(("YYYY-MM-DDTHH:MM:SS.XXXZ vcpu-0 - ", ""),),
    note="the KB masks the timestamp and drops the level column",
    level="warning",
    sample={"msr": 0x40000100, "value": 0xEF},
)
VMX_CHIPSET_RESET = _vmx(
    "vmware.chipset.hard_reset",
    "Chipset: The guest has requested that the virtual machine be hard reset.",
    r"Chipset: The guest has requested that the virtual machine be hard reset\.",
    "Chipset: The guest has requested that the virtual machine be hard reset.",
    _GOS + ": the line VMware's GOS suite greps for a Windows guest reboot",
    real_is_body=True,
    sample={},
)
VMX_GUESTRPC_REINIT = _vmx(
    "vmware.guestrpc.reinit",
    "GuestRpc: Reinitializing Channel 0(toolbox)",
    r"GuestRpc: Reinitializing Channel \d+\(toolbox\)",
    "GuestRpc: Reinitializing Channel 0(toolbox)",
    _GOS,
    real_is_body=True,
    sample={},
)
VMX_CPU_RESET = _vmx(
    "vmware.cpu_reset",
    "CPU reset: {how}",
    r"CPU reset: (?:soft|hard)",
    "CPU reset: soft",
    "community mapping of vmware.log reset lines ('CPU reset: soft' = guest OS initiated reset, audit A6); "
    "the '(mode Emulation)' suffix the simulator wrote before is unverified and dropped",
    real_is_body=True,
    sample={"how": "soft"},
)
VMX_TOOLS_OS_REBOOT = _vmx(
    "vmware.tools.os_reboot",
    "Tools: sending 'OS_Reboot' (state = 2) state change request",
    r"Tools: sending 'OS_Reboot' \(state = \d\) state change request",
    "Tools: sending 'OS_Reboot' (state = 2) state change request",
    "VMware community thread 2580831 (audit A6)",
    real_is_body=True,
    sample={},
)
VMX_TOOLS_STATE_CHANGE = _vmx(
    "vmware.tools.state_change_returned",
    "TOOLS state change {state} returned status {status}",
    r"TOOLS state change \d returned status \d",
    "2019-03-14T12:03:04.445Z| vmx| I125: TOOLS state change 3 returned status 1",
    "log-samples/vmware.log.txt: open-vm-tools#327 (ESXi 6.x)",
    sample={"state": 2, "status": 1},
)

# ------------------------------------------------------------------------------------------------ vmksummary
VMKSUMMARY_BOOTSTOP = _kind(
    name="vmksummary.bootstop",
    log="vmksummary",
    text="Host {what}",
    template=r"Host (?:has booted|is rebooting|is powering off|is halting)",
    real="2025-09-18T02:15:00.360Z bootstop[137121]: Host is halting",
    source="log-samples/vmksummary.txt: KB 317245 (ESXi 7/8)",
    extra={"program": "bootstop"},
    sample={"what": "has booted"},
)
VMKSUMMARY_HEARTBEAT = _kind(
    name="vmksummary.heartbeat",
    log="vmksummary",
    text="up {uptime}, {count} VMs; [{procs}] []",
    template=r"up \d+d\d+h\d+m\d+s, \d+ VMs; \[(?:\[\d+ \S+ \d+kB\](?: \[\d+ \S+ \d+kB\])*)?\] \[.*\]",
    real=HEADER_SAMPLES[("vmksummary", "8.0")],
    source="log-samples/vmksummary.txt: KB 317245 (ESXi 7/8)",
    extra={"program": "heartbeat"},
    sample={"uptime": "0d1h0m3s", "count": 2, "procs": "[2101117 vmx 4181412kB] [2099871 hostd 181244kB]"},
)
