"""vmkernel.log signatures: APD, PDL, NFS server, VMFS heartbeat, iSCSI connection, vSAN; PSOD console text."""

from __future__ import annotations

import re

from faultlab.assertions.catalog.base import DEV, NFS_TEXT, RE_PATH, Fields, Sample, Signature, dev, sig

# Where the samples come from: reference/log-samples/vmkernel.log.txt (its '# source:' comments name the
# published origin of each block), reference/esxi-facts.md, and the seed KBs (tests/fixtures/labels/seed-*.txt).
_VMK = "reference/log-samples/vmkernel.log.txt:"
_SEED_BSOD = "seed KB 392634 (tests/fixtures/labels/seed-kb392634.txt):"
_SEED_HB = "seed KB 308590 (tests/fixtures/labels/seed-kb308590.txt):"
_ELATOV_CNA = (
    "elatov/elatov.github.io, 'ESX(i) Host with Emulex NC553i CNA Disconnects from Storage' (virtuallyhyper.com "
    "2012/11, ESXi 5.x vmkernel)"
)
_ELATOV_MSA = "elatov/elatov.github.io, 'VMs are Slow to Boot from an HP MSA 2000 Array' (2012/11, ESX 3.5 vmkernel)"
_KB1008130 = (
    "VMware KB 1008130 (ESX 3.5 U3 SAN I/O failure), as copied in vmwaretips.com 2009/01/12 'Issue: VMware "
    "ESX/ESXi SAN I/O Failure'; the KB's own <date and time> <hostname> placeholders"
)
_KB2144657 = (
    "VMware KB 2144657 (ESXi 6.0 PDL without path failover), as quoted by opvizor 2016-02-23 'Storage PDL "
    "responses may not trigger path failover in vSphere 6.0'; the KB leaves the time out"
)


def _pdl_sense(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    body = m.string
    device = dev(body)
    path = RE_PATH.search(body)
    fields: Fields = {"sense": "0x5 0x25 0x0"}
    if path:
        fields["path"] = path.group(1)
    if device:
        fields["device"] = device
    return device or (path.group(1) if path else None), fields, None


def _iscsi(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    fields: Fields = {"adapter": m.group("adapter"), "connection": m.group("conn")}
    if m.group("event"):
        fields["event"] = int(m.group("event"))
    return m.group("adapter"), fields, None


def _nfs(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    fields = {k: m.group(k) for k in ("server", "mount_point", "volume", "label")}
    return m.group("label") or m.group("volume"), fields, None


def _volume(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    """Subject = datastore label when the line names one, else the volume id."""
    g = {k: v for k, v in m.groupdict().items() if v}
    return g.get("label") or g.get("volume"), g, None


_NFS_CONN = r"NFS: \d+: " + NFS_TEXT
_ISCSI = (
    r"(?P<conn>(?P<adapter>vmhba\d+):CH:\d+ T:\d+ CN:\d+): iSCSI connection is being marked \"{state}\""
    r"(?: \(Event:(?P<event>\d+)\))?"
)
_APD_IDENT = r"(?:0x[0-9a-fA-F]+ )?(?:ident )?\[(?P<subject>[^\]]+)\]"
_HB_OFFSET = r"HB at offset \S+ - "
_VOL_LABEL = r"(?P<volume>\S+) \((?P<label>[^)]*)\)"
_NO_TIMEOUT_LINE = (
    "no published host log shows this line: reference/sim-realism-audit.md B4 notes real hosts write it by "
    "symmetry with the verified APD_START/APD_EXIT lines (HAUC 6.5/6.7) and the catalog expects it"
)

SIGNATURES: tuple[Signature, ...] = (
    sig("apd.start", r"APD EventType: APD_START \(\d+\) for vol '(?P<subject>[^']*)'", r"APD_(START|EXIT|TIMEOUT)",
        Sample("2018-07-06T21:02:11.204Z cpu0:65641)HBX: 6214: APD EventType: APD_START (3) for vol 'iSCSI'",
               _VMK + "19")),
    sig("apd.start", r"Device state of (?P<subject>" + DEV + r") set to APD_START", r"APD_(START|EXIT|TIMEOUT)",
        Sample("2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of "
               "naa.60014055c425cd10a874374b415629b3 set to APD_START; token num:1", _VMK + "20")),
    sig("apd.start", r"StorageApdHandler: \d+: APD [Ss]tart for " + _APD_IDENT, r"APD ([Ss]tart|[Ee]xit) for",
        Sample("2018-07-06T21:02:11.204Z cpu0:65641)StorageApdHandler: 1205: APD start for 0x4302ff581ad0 "
               "[naa.60014055c425cd10a874374b415629b3]", _VMK + "21")),
    sig("apd.timeout", r"APD EventType: APD_TIMEOUT \(\d+\) for vol '(?P<subject>[^']*)'",
        r"APD_(START|EXIT|TIMEOUT)", no_sample=_NO_TIMEOUT_LINE),
    sig("apd.timeout", r"Device state of (?P<subject>" + DEV + r") set to APD_TIMEOUT", r"APD_(START|EXIT|TIMEOUT)",
        no_sample=_NO_TIMEOUT_LINE),
    sig("apd.exit", r"APD EventType: APD_EXIT \(\d+\) for vol '(?P<subject>[^']*)'", r"APD_(START|EXIT|TIMEOUT)",
        Sample("2018-07-06T21:02:22.559Z cpu2:65629)HBX: 6214: APD EventType: APD_EXIT (4) for vol 'iSCSI'",
               _VMK + "27")),
    sig("apd.exit", r"Device (?P<subject>" + DEV + r") is Out of APD", r"is Out of APD",
        Sample("2018-07-06T21:02:22.556Z cpu0:65642)ScsiDevice: 5036: Device naa.60014055c425cd10a874374b415629b3 "
               "is Out of APD; token num:1", _VMK + "26")),
    sig("apd.exit", r"StorageApdHandler: \d+: APD [Ee]xit for " + _APD_IDENT, r"APD ([Ss]tart|[Ee]xit) for",
        no_sample="the published ESXi 5.5+ APD exit is logged as 'Device ... is Out of APD' / 'APD_EXIT' (this "
        "file, lines 26-27); 'APD Exit for ident [..]' is only quoted in prose (vmwareblogs.co.in APD page, "
        "truncated) next to its verified 'APD Start for ident [8a5a1336-3d574c6d]!' twin"),
    sig("pdl", r"Valid sense data: 0x5 0x25 0x0", r"Valid sense data: 0x5 0x25 0x0",
        Sample('2011-08-09T10:43:26.857Z cpu2:853571)VMW_SATP_ALUA: satp_alua_issueCommandOnPath:661: Path '
               '"vmhba3:C0:T0:L0" (PERM LOSS) command 0xa3 failed with status Device is permanently unavailable. '
               'H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0.', _VMK + "35 (KB 2004684)"),
        handler=_pdl_sense),
    sig("pdl", r"Device :?(?P<subject>" + DEV + r") has been removed or is permanently inaccessible",
        r"permanently inaccessible",
        Sample("2011-08-09T10:43:26.857Z cpu2:853571)WARNING: ScsiDevice: 1223: Device "
               ":naa.60a98000572d54724a34642d71325763 has been removed or is permanently inaccessible.",
               _VMK + "38 (KB 2004684)")),
    # NMP's own report of the PDL sense on a path (issue 12 item 5: "nmp_PathDetermineFailure ... PDL error
    # (0x5/0x25/0x0)"); any "PDL error (0x5/0x25/0x0)" names the same sense, whichever function logs it
    sig("pdl", r"PDL error \(0x5/0x25/0x0\)", r"PDL error",
        Sample("cpu6:32909)WARNING: NMP: nmp_PathDetermineFailure:2961: Cmd (0x2a) PDL error (0x5/0x25/0x0) - path "
               "vmhba2:C0:T5:L2 device naa.514f0c5ec2000008 - triggering path evaluation", _KB2144657),
        handler=_pdl_sense),
    sig("nfs.server.lost", _NFS_CONN.replace("(?:Lost|Restored)", "Lost"), r"connection to (the )?server",
        handler=_nfs,
        no_sample="reference/esxi-facts.md section 2: no verbatim primary copy of the vmkernel 'Lost connection' "
        "line was found; its form is the verified 'Restored connection' line's"),
    sig("nfs.server.restored", _NFS_CONN.replace("(?:Lost|Restored)", "Restored"), r"connection to (the )?server",
        Sample('NFS: 286: Restored connection to server 10.178.250.10 mount '
               'point /vol/data1, mounted as a20f9958-58eaf9ec-0000-000000000 ("NFS_1")',
               "reference/esxi-facts.md section 2 (elatov, ESXi 4.x/5.0; published without its time prefix)"),
        handler=_nfs),
    sig("vmfs.heartbeat.timeout", r"HBX: \d+: '(?P<subject>[^']+)': " + _HB_OFFSET + "Waiting for timed out",
        r"Waiting for timed.out",
        Sample("2017-02-25T18:19:29.783Z cpu3:68444)HBX: 2956: 'ssd': HB at offset 3735552 - Waiting for timed "
               "out HB:", _VMK + "53 (cunnie/docs, ESXi 6.5)")),
    sig("vmfs.heartbeat.timeout", r"HBX: \d+: Waiting for timed out .*on vol '(?P<subject>[^']+)'",
        r"Waiting for timed.out",
        Sample("2012-11-01T04:12:01.299Z cpu2:12086)HBX: 2313: Waiting for timed out [HB state abcdef02 offset "
               "3964928 gen 59 stampUS 6780917733 uuid 5091de63-2683f5a0-1ea1-e4115baf243b jrnl <FB 60558> drv "
               "14.54] on vol 'Datastore'", _ELATOV_CNA)),
    # ESX 3.5 VMFS3 writes FS3 (not HBX) lines, spelled "timed out" or "timed-out"
    sig("vmfs.heartbeat.timeout", r"FS3: \d+: Waiting for timed[- ]out heartbeat", r"Waiting for timed.out",
        Sample("<date and time> <hostname> vmkernel: 31:19:32:29.382 cpu2:1144)FS3: 5034: Waiting for timed-out "
               "heartbeat [HB state abcdef02 offset 3736576 gen 26 stamp 2748610023852 uuid "
               "4939b0cf-c85aa695-158d-00144f021dd4 jrnl <FB 383397> drv 4.31]", _KB1008130)),
    sig("vmfs.heartbeat.reclaimed", r"HBX: \d+: Reclaimed heartbeat for volume " + _VOL_LABEL,
        r"Reclaimed (timed.out )?heartbeat",
        Sample("2012-11-12T13:23:57.368Z cpu11:4132)HBX: 231: Reclaimed heartbeat for volume "
               "503f6831-a50ea3f0-bc4c-5ef3fcc3abc7 (LUN301): [Timeout] [HB state abcdef02 offset 4063232 gen 43 "
               "stampUS 358012043 uuid 50a0d5d0-96130a3c-4332-e61f131d9a43 jrnl <FB 65400> drv",
               _VMK + "68 (cut short by the publisher)"),
        handler=_volume),
    sig("vmfs.heartbeat.reclaimed", r"HBX: \d+: '(?P<volume>[^':]+)'?:? " + _HB_OFFSET + "Reclaimed",
        r"Reclaimed (timed.out )?heartbeat",
        Sample("[YYYY-MM-DDTHH:MM:SS] cpu4:17153319)HBX: 294: '########-####-####-############: HB at offset "
               "####### - Reclaimed heartbeat [Timeout]:", _SEED_BSOD + "37"),
        handler=_volume),
    sig("vmfs.heartbeat.reclaimed", r"FS3: \d+: Reclaimed timed[- ]out heartbeat", r"Reclaimed (timed.out )?heartbeat",
        Sample("Nov 14 01:15:37 esx vmkernel: 0:02:09:02.494 cpu3:1043)FS3: 4831: Reclaimed timed out heartbeat [HB "
               "state abcdef02 offset 3159552 gen 174 stamp 7738206575 uuid 50a2d28e-497dcab4-7e86-001b78bbdd58 "
               "jrnl <FB 121075> drv 4.31]", _ELATOV_MSA)),
    sig("iscsi.connection.offline", _ISCSI.format(state="OFFLINE"), r"iSCSI connection is being marked",
        Sample('2018-07-06T21:02:01.202Z cpu28:66292)WARNING: iscsi_vmk: iscsivmk_StopConnection: vmhba64:CH:0 '
               'T:0 CN:0: iSCSI connection is being marked "OFFLINE" (Event:6)', _VMK + "16"),
        handler=_iscsi),
    sig("iscsi.connection.online", _ISCSI.format(state="ONLINE"), r"iSCSI connection is being marked",
        Sample('2018-07-06T21:02:22.556Z cpu31:66696)WARNING: iscsi_vmk: iscsivmk_StartConnection: vmhba64:CH:0 '
               'T:0 CN:0: iSCSI connection is being marked "ONLINE"', _VMK + "22"),
        handler=_iscsi),
    sig("vsan.liveness.lost", r"DOM: \w+:\d+: Object (?P<subject>\S+) lost liveness", r"lost liveness",
        Sample("[YYYY-MM-DDTHH:MM:SS] cpu71:2098688)DOM: DOMOwner_SetLivenessState:7358: Object "
               "########-####-####-####-############ lost liveness [########]", _SEED_BSOD + "41")),
)  # fmt: skip

# PSOD console text and host heartbeat loss (vmkernel, vmkernel-zdump logs, console captures)
PSOD: tuple[Signature, ...] = (
    sig("host.psod", r"^@BlueScreen: (?P<reason>.*\S)", r"@BlueScreen:",
        Sample("@BlueScreen: Lost heartbeat", _VMK + "90 (KB 308590)"),
        Sample("@BlueScreen: NMI IPI: Panic requested by another PCPU. PC 0x################, SP "
               "0x################ (Src 0x4, CPU0)", _VMK + "95")),
    sig("host.heartbeat.lost",
        r"HB: \d+: Lost heartbeat \(comm=(?P<comm>[^\s)]+) pid=(?P<pid>\d+) t=(?P<t>\d+) to=(?P<to>\d+)"
        r"(?: clt=(?P<clt>\d+))?\)", r"Lost heartbeat",
        Sample("42:14:02:29.347 cpu0:1024)VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 "
               "clt=1).", _VMK + "92 (KB 308590)")),
    sig("host.heartbeat.lost", r"COS Error: (?P<reason>Lost heartbeat)", r"Lost heartbeat",
        Sample("42:14:03:29.508 cpu0:1024)Host: 4781: COS Error: Lost heartbeat", _SEED_HB + "48")),
    sig("host.heartbeat.lost",
        r"Heartbeat: HandleLockup:\d+: PCPU (?P<pcpu>\d+) didn't have a heartbeat for (?P<seconds>\d+) seconds",
        r"didn't have a heartbeat",
        Sample("ALERT: Heartbeat: HandleLockup:827: PCPU 8 didn't have a "
               "heartbeat for 5 seconds, timeout is 14, 1 IPIs sent; *may* be locked up.",
               "reference/esxi-facts.md section 7 (KB 335063, ESXi 7.0; published without its time prefix)")),
)  # fmt: skip
