"""vobd.log line kinds: vob.* / esx.* twins and the 8.0 forwarding line."""

from __future__ import annotations

import re

from faultlab.sim.esxi.logs.kinds_vmkernel import _NFS_WHERE, _SEED, HB_STATE, NFS_RESTORED
from faultlab.sim.esxi.logs.linekind import _UUID, HEADER_SAMPLES, LineKind, declare

# ------------------------------------------------------------------------------------------------ vobd
# vobd bodies: `[Correlator] <us>us: [event.id] text`. The esx.* twin of a vob carries an uptime from another clock:
# KB 323075 (vob 1960326656825us / esx 1960324330689us) and the VPLEX blog (…0122975us / …3124828us) show a near
# constant per-host offset of a few seconds, either sign, while the two lines' timestamps are a millisecond apart.
_VOB = r"\[\w+\] \d+us: "
_APD_REAL = "log-samples/vobd.log.txt: KB 323075 (ESXi 6.x/7.x)"


def _vobd(
    name: str, event: str, corr: str, text: str, template: str, real: str, source: str, **more: object
) -> LineKind:
    return declare(
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
VOB_NFS_DISCONNECT = declare(
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
    sample={
        "us": 9414268686,
        "server": "198.18.1.21",
        "export": "/ds-nfs01",
        "uuid": NFS_RESTORED.sample["uuid"],
        "label": "ds-nfs01",
    },
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
    derive=(
        ("esx.problem.vmfs.nfs.server.disconnect", "esx.clear.vmfs.nfs.server.restored"),
        *ESX_NFS_DISCONNECT.derive,
    ),
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
    "vobd[2098532]  The event ([esx.problem.vmfs.heartbeat.timedout] <VMFS volume UUID> <DatastoreName>) was sent "
    "immediately to hostd;",
    _HB_KB,
    real_is_body=True,
    derive=(
        ("The event (", "[vmfsCorrelator] 14807596740549us: "),
        (") was sent immediately to hostd;", ""),
        *_HB_FILL,
    ),
    note="the KB shows this event's id and arguments only inside vobd's forwarding line; the `[vmfsCorrelator] "
    "<us>us:` layout is the recovered line's in the same KB; placeholders filled",
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
    derive=(("esx.problem.vmfs", "vob.vmfs"), *ESX_HB_TIMEDOUT.derive),
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
    note="KB placeholders filled; this host's HB state adds `lockImpl 4 ip <vmknic>` as KB 392634's vmkernel copy",
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
    derive=(("heartbeat.timedout", "heartbeat.recovered"), *ESX_HB_TIMEDOUT.derive),
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
VOBD_FORWARDED = declare(
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
