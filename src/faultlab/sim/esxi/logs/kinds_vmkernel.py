"""vmkernel.log / vmkwarning.log line kinds (NFS, NFSLock, iSCSI, SCSI, APD, VMFS heartbeat)."""

from __future__ import annotations

from faultlab.sim.esxi.logs.linekind import _UUID, HAUC, HEADER_SAMPLES, SMARTX, declare

# ------------------------------------------------------------------------------------------------ vmkernel
APD_HANDLE = declare(
    name="vmkernel.apd.handle_created",
    log="vmkernel",
    text="StorageApdHandler: 982: APD Handle  Created with lock[StorageApd-0x{handle:x}]",
    template=r"StorageApdHandler: \d+: APD Handle  Created with lock\[StorageApd-0x[0-9a-f]+\]",
    real="StorageApdHandler: 982: APD Handle  Created with lock[StorageApd-0x430a28b09130]",
    real_is_body=True,
    source="sim-realism-audit.md C3 (ESXi 6.x vmkernel line, quoted body only)",
    sample={"handle": 0x430A28B09130},
)
NFS_MOUNTED = declare(
    name="vmkernel.nfs.mounted",
    log="vmkernel",
    text="NFS: 317: NFS mount succeeded for {server}:{export} volume {label}.",
    template=r"NFS: \d+: NFS mount succeeded for \S+:/\S* volume \S+\.",
    real="2023-12-07T05:04:55.162Z In(182) vmkernel: cpu10:2099084 opID=a9f5cca4)NFS: 317: NFS mount succeeded for "
    "192.168.33.2:/zbs/fi-0753971d-bf82-42f2-a175-d2ac9f412633 volume fi-0753971d-bf82-42f2-a175-d2ac9f412633.",
    source=SMARTX,
    sample={"server": "198.18.1.21", "export": "/ds-nfs01", "label": "ds-nfs01"},
)
APD_START = declare(
    name="vmkernel.apd.start",
    log="vmkernel",
    text="StorageApdHandler: 1205: APD start for 0x{handle:x} [{ident}]",
    template=r"StorageApdHandler: \d+: APD start for 0x[0-9a-f]+ \[\S+\]",
    real="2018-07-06T21:02:11.204Z cpu0:65641)StorageApdHandler: 1205: APD start for 0x4302ff581ad0 "
    "[naa.60014055c425cd10a874374b415629b3]",
    source=HAUC,
    sample={"handle": 0x4302FF581AD0, "ident": "3caac754-8a21b37f"},
)
APD_TIMEOUT = declare(
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
APD_EXIT = declare(
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
NFS_RESTORED = declare(
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
NFS_LOST = declare(
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
NFS_RETRY = declare(
    name="vmkernel.nfs.retry",
    log="vmkernel",
    text="NFS: 6339: Status:No connection. Retrying synchronous write I/O {attempt} of 25 times",
    template=r"NFS: \d+: Status:No connection\. Retrying synchronous write I/O \d+ of 25 times",
    real="2023-12-07T05:06:49.241Z In(182) vmkernel: cpu7:2097365)NFS: 6339: Status:No connection. Retrying "
    "synchronous write I/O 1 of 25 times",
    source=SMARTX,
    sample={"attempt": 1},
)
NFSLOCK_STOP = declare(
    name="vmkernel.nfslock.stop",
    log="vmkernel",
    text="NFSLock: 1505: Stop accessing fd 0x{fd:x}({file})  3",
    template=r"NFSLock: \d+: Stop accessing fd 0x[0-9a-f]+\([^()\s]+\)  3",
    real="2023-12-07T05:07:24.239Z In(182) vmkernel: cpu1:2097803)NFSLock: 1505: Stop accessing fd "
    "0x43088f419390(testvm02.vmx.lck)  3",
    source=SMARTX,
    sample={"fd": 0x43088F419390, "file": "win01-flat.vmdk"},
)
NFSLOCK_START = declare(
    name="vmkernel.nfslock.start",
    log="vmkernel",
    text="NFSLock: 1469: Start accessing fd 0x{fd:x}({file}) again",
    template=r"NFSLock: \d+: Start accessing fd 0x[0-9a-f]+\([^()\s]+\) again",
    real="2023-12-07T05:07:34.039Z In(182) vmkernel: cpu1:2097803)NFSLock: 1469: Start accessing fd "
    "0x43088f601770(testvm02-flat.vmdk) again",
    source=SMARTX,
    sample={"fd": 0x43088F601770, "file": "win01-flat.vmdk"},
)
NFS_LATENCY = declare(
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
NFS_LATENCY_AVG = declare(
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
ISCSI_RX_FAILED = declare(
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
ISCSI_SESS = declare(
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
ISCSI_CONN = declare(
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
ISCSI_RX_NOTIFY = declare(
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
ISCSI_OFFLINE = declare(
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
ISCSI_ONLINE = declare(
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
NMP_THROTTLE = declare(
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
NMP_REPEATED = declare(
    name="vmkernel.nmp.repeated",
    log="vmkernel",
    text="NMP: nmp_ThrottleLogForDevice:3546: last error status from device {naa} repeated {count} times",
    template=r"NMP: nmp_ThrottleLogForDevice:\d+: last error status from device \S+ repeated \d+ times",
    real="2017-02-25T17:34:15.762Z cpu3:65563)NMP: nmp_ThrottleLogForDevice:3546: last error status from device "
    "t10.ATA_____Crucial_CT1050MX300SSD4_________________________163713E82C00 repeated 10 times",
    source="log-samples/vmkernel.log.txt: cunnie/docs (ESXi 6.5)",
    sample={"naa": "naa.6001405abcdef", "count": 10},
)
NMP_FAST_PROBE = declare(
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
SCSI_CMD_FAILED = declare(
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
PDL_CMD_FAILED = declare(
    name="vmkernel.scsi.pdl_cmd_failed",
    log="vmkernel",
    text='ScsiDeviceIO: 4325: Cmd(0x{cmd:x}) 0x2a, CmdSN 0x{sn:x} from world {world} to dev "{naa}" failed '
    "H:0x0 D:0x2 P:0x0 Valid sense data: 0x5 0x25 0x0.",
    template=r'ScsiDeviceIO: \d+: Cmd\(0x[0-9a-f]+\) 0x[0-9a-f]{2}, CmdSN 0x[0-9a-f]+ from world \d+ to dev "\S+" '
    r"failed H:0x0 D:0x2 P:0x0 Valid sense data: 0x[0-9a-f] 0x[0-9a-f]+ 0x0\.?",
    real='ScsiDeviceIO: 4325: Cmd(0x45be74dae040) 0x28, CmdSN 0xd65263a8 from world 0 to dev "naa.#####" failed '
    "H:0x0 D:0x2 P:0x0 Valid sense data: 0x3 0x11 0x0",
    real_is_body=True,
    source="Broadcom KB 326859 (ESXi 7.0; quoted in the audit's B7 row); sense 0x5 0x25 0x0 = LUN not supported "
    "(KB 2004684); the closing '.' as in the 7.0 OneNote and 5.0 KB 2004684 lines (the KB quote drops it)",
    sample={"cmd": 0x45BE74DAE040, "sn": 0xD65263A8, "world": 2099321, "naa": "naa.6001405abcdef"},
)
PDL_REMOVED = declare(
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
NMP_BLOCKED = declare(
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
HBX_APD_START = declare(
    name="vmkernel.hbx.apd_start",
    log="vmkernel",
    text="HBX: 6214: APD EventType: APD_START (3) for vol '{label}'",
    template=r"HBX: \d+: APD EventType: APD_START \(3\) for vol '[^']+'",
    real="2018-07-06T21:02:11.204Z cpu0:65641)HBX: 6214: APD EventType: APD_START (3) for vol 'iSCSI'",
    source=HAUC,
    sample={"label": "ds-vmfs01"},
)
HBX_APD_EXIT = declare(
    name="vmkernel.hbx.apd_exit",
    log="vmkernel",
    text="HBX: 6214: APD EventType: APD_EXIT (4) for vol '{label}'",
    template=r"HBX: \d+: APD EventType: APD_EXIT \(4\) for vol '[^']+'",
    real="2018-07-06T21:02:22.559Z cpu2:65629)HBX: 6214: APD EventType: APD_EXIT (4) for vol 'iSCSI'",
    source=HAUC,
    sample={"label": "ds-vmfs01"},
)
SCSI_APD_START = declare(
    name="vmkernel.scsi.apd_start",
    log="vmkernel",
    text="ScsiDevice: 4993: Device state of {naa} set to APD_START; token num:1",
    template=r"ScsiDevice: \d+: Device state of \S+ set to APD_START; token num:\d+",
    real="2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.60014055c425cd10a874374b415629b3 "
    "set to APD_START; token num:1",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
SCSI_STATE_BACK = declare(
    name="vmkernel.scsi.state_back",
    log="vmkernel",
    text="ScsiDevice: 5015: Setting Device {naa} state back to 0x2",
    template=r"ScsiDevice: \d+: Setting Device \S+ state back to 0x2",
    real="2018-07-06T21:02:22.556Z cpu0:65642)ScsiDevice: 5015: Setting Device naa.60014055c425cd10a874374b415629b3 "
    "state back to 0x2",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
SCSI_OUT_OF_APD = declare(
    name="vmkernel.scsi.out_of_apd",
    log="vmkernel",
    text="ScsiDevice: 5036: Device {naa} is Out of APD; token num:1",
    template=r"ScsiDevice: \d+: Device \S+ is Out of APD; token num:\d+",
    real="2018-07-06T21:02:22.556Z cpu0:65642)ScsiDevice: 5036: Device naa.60014055c425cd10a874374b415629b3 is Out "
    "of APD; token num:1",
    source=HAUC,
    sample={"naa": "naa.6001405abcdef"},
)
HBX_WAITING = declare(
    name="vmkernel.hbx.waiting",
    log="vmkernel",
    text="HBX: 2956: '{label}': HB at offset {offset} - Waiting for timed out HB:",
    template=r"HBX: \d+: '[^']+': HB at offset \d+ - Waiting for timed out HB:",
    real="2017-02-25T18:19:29.783Z cpu3:68444)HBX: 2956: 'ssd': HB at offset 3735552 - Waiting for timed out HB:",
    source="log-samples/vmkernel.log.txt: cunnie/docs (ESXi 6.5)",
    sample={"label": "ds-vmfs01", "offset": 3248128},
)
_SEED = "seeds/000 (KB 392634, ESXi 7/8; the KB masks names, numbers and addresses)"
HBX_RECLAIMED = declare(
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
HB_STATE = declare(
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
