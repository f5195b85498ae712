"""LineKind: one kind of log line with the real line it imitates; the registry, and each log's real prefixes."""

# A writer (vmkernel, vobd, hostd, vmware.log, vmksummary) only accepts a LineKind, so every line the simulator
# writes has an entry here: the format the simulator renders, a regex template of the message body, and a real
# line (verbatim, with its source) that the template must match. tests/unit/sim/test_log_fidelity.py renders every
# kind in both version profiles and checks it against its template and the template against the real line.
# Where no real sample of a line exists, `derive` names the textual substitutions that turn the real sibling line
# into the simulated one (e.g. "Restored" -> "Lost"): the kind is then reported as extrapolated, never passed off
# as verified.

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

LogName = Literal["vmkernel", "vobd", "hostd", "vmware", "vmksummary", "auth", "shell"]


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


def declare(**spec: object) -> LineKind:
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
    # auth.log / shell.log: 7.0 `ts sshd[pid]: ` (6.x wrote whole seconds, 7.0 milliseconds), 8.0 adds the tag
    ("auth", "7.0"): r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3})?Z sshd\[\d+\]: (?P<body>.*)",
    ("auth", "8.0"): TS + r" In\(38\) sshd\[\d+\]: (?P<body>.*)",
    ("shell", "7.0"): TS + r" shell\[\d+\]: (?P<body>.*)",
    ("shell", "8.0"): TS + r" In\(14\) shell\[\d+\]: (?P<body>.*)",
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
    # HAUC ESXi notes (6.5/6.7, public GitHub file, index id 1044398907): the classic layout 7.0 keeps (KB 421596)
    ("auth", "7.0"): "2018-07-05T20:12:46Z sshd[77731]: Connection from 172.31.255.6 port 50311",
    # ESXi DFIR cheat-sheet, a real ESXi 8.0 host (public GitHub file, index id 6841595446)
    ("auth", "8.0"): "2023-12-05T17:35:43.281Z In(38) sshd[1053654]: Connection from 192.168.127.10 port 58470",
    # REASSEMBLED, not verbatim: the fields fox-it/dissect.target's test_shell_log.py reads off a real 7.0 shell.log
    # (ts 2024-12-06T15:18:56.247Z, app shell, pid 88029001, user anotheruser, message `du -sh *`), in the
    # `ts app[pid]: [user]: message` order of its parser; no verbatim 7.0 shell.log line was found
    ("shell", "7.0"): "2024-12-06T15:18:56.247Z shell[88029001]: [anotheruser]: du -sh *",
    # ESXi DFIR cheat-sheet (as auth 8.0)
    ("shell", "8.0"): "2023-12-05T17:36:17.835Z In(14) shell[1053659]: [root]: vim-cmd vmsvc/getallvms",
}
# 8.0 vmware.log continuation marker after each WinBSOD line but the last (KB 392634 / KB 417490).
CONTINUATION_80 = TS + r" Wa\(03\)\+ [\w-]+ -"

_HEX = r"0x[0-9a-f]+"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAA = r"naa\.[0-9a-f]+"

SMARTX = "public GitHub file (SmartX NFS failover notes, ESXi 8.0, 2023-12-07; search index id 6881350959)"
HAUC = "log-samples/vmkernel.log.txt: HAUC ESXi notes (ESXi 6.5/6.7 software iSCSI APD)"
KB392634 = "Broadcom KB 392634 (ESXi 7/8), log-samples/hostd.log.txt and the audit's A7 row"
