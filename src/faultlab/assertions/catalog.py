"""The signature catalog: parsed ESXi log lines -> named events (DESIGN.md names), prefilter, twin linking."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from faultlab.assertions.bsod import bugcheck_name, status_name
from faultlab.assertions.model import Event, LogKind, LogLine

__all__ = [
    "GREP_UNION",
    "PREFILTER",
    "SIGNATURES",
    "EventBuilder",
    "Signature",
    "events_from_lines",
    "link_twins",
    "signatures_for",
]

# What each event carries (subject; fields). Subjects: a device id (naa./mpx./t10./eui.), an NFS volume id
# or datastore label (the label when the line names one), a vmhba path, a file path; None for host events.
#   apd.start / apd.exit      device id, NFS volume id or (vmkernel HBX) datastore label; {}
#   apd.timeout               same; {seconds} when the line says "for N seconds"
#   pdl                       device id, else the vmhba path; {sense, path, device} as present
#   path.dead / path.on       vmhba path; {path, from}
#   redundancy.lost           device; {path, datastores: [..], degraded: bool}   (.degraded -> degraded=True)
#   redundancy.restored, connectivity.lost/.restored   device; {path, datastores}
#   nfs.server.lost/.restored label (else volume id); {server, mount_point, volume, label}
#   vmfs.heartbeat.timeout/.reclaimed   label (else volume id); {volume, label} as present, forwarded=True on
#                             vobd's "The event (...) was sent immediately to hostd" note
#   iscsi.connection.offline/.online    adapter (vmhba64); {adapter, connection, event}
#   hostd.slow_io             file path; {op, path, seconds: int, thread, datastore, vm}
#   hostd.io_error            file path; {path, error, datastore, vm}
#   vsan.liveness.lost        DOM object uuid; {}
#   guest.bsod                VM folder of …/<vm>/vmware.log, else None; {code, code_hex, name, params,
#                             params_hex, complete, status_name (0x7A/0x77 with a known NTSTATUS)}
#   guest.tools_heartbeat.lost  None; {}
#   guest.reset               VM folder of …/<vm>/vmware.log, else None; {kind: "soft" (guest OS restart, e.g. after
#                             a bugcheck) | "hard" (power.reset, HA), vcpu: "vcpu-0"...}. A multi-vCPU guest logs one
#                             line per vCPU within a few ms, each an event: count one reset per VM per vcpu-0 event.
#   host.heartbeat.lost       None; {comm, pid, t, to, clt} | {reason} | {pcpu, seconds}
#   host.psod                 None; {reason}
#   host.boot / host.shutdown None; {how} for shutdown ("rebooting", "powering off", "halting"), {epoch}
#   host.memory.sample        None; {format, uptime_s, vms, swap_bytes, processes, cpu, epoch}
# source_id: the vobd event id (vob.* / esx.problem.* / esx.clear.*), hostd "Event N", else None.

Fields = dict[str, Any]
# A handler turns a regex match into (subject, fields, source_id), or None to reject the match.
Handler = Callable[[re.Match[str]], "tuple[str | None, Fields, str | None] | None"]


@dataclass(frozen=True, slots=True)
class Signature:
    """One rule: an event `name`, a regex searched in the line body, and how to read subject/fields."""

    name: str
    pattern: re.Pattern[str]
    handler: Handler | None = None  # default: group "subject" + every other named group as a field
    source_id: str | None = None  # static ESXi event id when the line itself names none

    def apply(self, body: str) -> tuple[str | None, Fields, str | None] | None:
        m = self.pattern.search(body)
        if m is None:
            return None
        if self.handler is not None:
            return self.handler(m)
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        subject = groups.pop("subject", None)
        return subject, {k: _num(v) for k, v in groups.items()}, self.source_id


def _is_int(v: str) -> bool:
    return v.isascii() and v.isdigit()  # str.isdigit alone accepts "¹", which int() refuses


def _num(v: str) -> Any:
    return int(v) if _is_int(v) else v


def _sig(name: str, pattern: str, handler: Handler | None = None, source_id: str | None = None) -> Signature:
    return Signature(name, re.compile(pattern), handler, source_id)


# Storage device identifiers as ESXi prints them (naa./mpx./t10./eui./vml.).
_DEV = r"(?:naa|mpx|t10|eui|vml)\.[^\s\"'\[\](),;]+"
_RE_DEV = re.compile(_DEV)
_RE_PATH = re.compile(r"\b(vmhba\d+:C\d+:T\d+:L\d+)")
_RE_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _dev(text: str) -> str | None:
    m = _RE_DEV.search(text)
    return m.group(0).rstrip(".:") if m else None


def _datastores(text: str) -> list[str]:
    """Labels in 'Affected datastores: "a", "b"' / '(Datastores: "a")'; empty names dropped."""
    idx = text.lower().find("datastores:")
    if idx < 0:
        return []
    return [a or b for a, b in _RE_QUOTED.findall(text[idx:]) if a or b]


def _vm_of_path(path: str) -> tuple[str | None, str | None]:
    """(datastore, vm folder) of /vmfs/volumes/<ds>/<vm>/<file>."""
    parts = path.split("/")
    if len(parts) >= 6 and parts[1] == "vmfs" and parts[2] == "volumes":
        return parts[3], parts[4]
    return None, None


# ---------------------------------------------------------------------------------------------------
# vmkernel


def _pdl_sense(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    body = m.string
    dev = _dev(body)
    path = _RE_PATH.search(body)
    fields: Fields = {"sense": "0x5 0x25 0x0"}
    if path:
        fields["path"] = path.group(1)
    if dev:
        fields["device"] = dev
    return dev or (path.group(1) if path else None), fields, None


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


_NFS_TEXT = (
    r"(?:Lost|Restored) connection to (?:the )?server (?P<server>\S+) mount point (?P<mount_point>.+?),"
    r" mounted as (?P<volume>\S+) \(\"(?P<label>[^\"]*)\"\)"
)
_NFS_CONN = r"NFS: \d+: " + _NFS_TEXT
_ISCSI = (
    r"(?P<conn>(?P<adapter>vmhba\d+):CH:\d+ T:\d+ CN:\d+): iSCSI connection is being marked \"{state}\""
    r"(?: \(Event:(?P<event>\d+)\))?"
)

_APD_IDENT = r"(?:0x[0-9a-fA-F]+ )?(?:ident )?\[(?P<subject>[^\]]+)\]"
_HB_OFFSET = r"HB at offset \S+ - "
_VOL_LABEL = r"(?P<volume>\S+) \((?P<label>[^)]*)\)"

_VMKERNEL: tuple[Signature, ...] = (
    _sig("apd.start", r"APD EventType: APD_START \(\d+\) for vol '(?P<subject>[^']*)'"),
    _sig("apd.start", r"Device state of (?P<subject>" + _DEV + r") set to APD_START"),
    _sig("apd.start", r"StorageApdHandler: \d+: APD [Ss]tart for " + _APD_IDENT),
    _sig("apd.timeout", r"APD EventType: APD_TIMEOUT \(\d+\) for vol '(?P<subject>[^']*)'"),
    _sig("apd.timeout", r"Device state of (?P<subject>" + _DEV + r") set to APD_TIMEOUT"),
    _sig("apd.exit", r"APD EventType: APD_EXIT \(\d+\) for vol '(?P<subject>[^']*)'"),
    _sig("apd.exit", r"Device (?P<subject>" + _DEV + r") is Out of APD"),
    _sig("apd.exit", r"StorageApdHandler: \d+: APD [Ee]xit for " + _APD_IDENT),
    _sig("pdl", r"Valid sense data: 0x5 0x25 0x0", _pdl_sense),
    _sig("pdl", r"Device :?(?P<subject>" + _DEV + r") has been removed or is permanently inaccessible"),
    _sig("nfs.server.lost", _NFS_CONN.replace("(?:Lost|Restored)", "Lost"), _nfs),
    _sig("nfs.server.restored", _NFS_CONN.replace("(?:Lost|Restored)", "Restored"), _nfs),
    _sig("vmfs.heartbeat.timeout", r"HBX: \d+: '(?P<subject>[^']+)': " + _HB_OFFSET + "Waiting for timed out"),
    _sig("vmfs.heartbeat.timeout", r"HBX: \d+: Waiting for timed out .*on vol '(?P<subject>[^']+)'"),
    _sig("vmfs.heartbeat.reclaimed", r"HBX: \d+: Reclaimed heartbeat for volume " + _VOL_LABEL, _volume),
    _sig("vmfs.heartbeat.reclaimed", r"HBX: \d+: '(?P<volume>[^':]+)'?:? " + _HB_OFFSET + "Reclaimed", _volume),
    _sig("vmfs.heartbeat.reclaimed", r"FS3: \d+: Reclaimed timed out heartbeat"),
    _sig("iscsi.connection.offline", _ISCSI.format(state="OFFLINE"), _iscsi),
    _sig("iscsi.connection.online", _ISCSI.format(state="ONLINE"), _iscsi),
    _sig("vsan.liveness.lost", r"DOM: \w+:\d+: Object (?P<subject>\S+) lost liveness"),
)  # fmt: skip

# PSOD console text and host heartbeat loss (vmkernel, vmkernel-zdump logs, console captures)
_PSOD: tuple[Signature, ...] = (
    _sig("host.psod", r"^@BlueScreen: (?P<reason>.*\S)"),
    _sig(
        "host.heartbeat.lost",
        r"HB: \d+: Lost heartbeat \(comm=(?P<comm>[^\s)]+) pid=(?P<pid>\d+) t=(?P<t>\d+) to=(?P<to>\d+)"
        r"(?: clt=(?P<clt>\d+))?\)",
    ),
    _sig("host.heartbeat.lost", r"COS Error: (?P<reason>Lost heartbeat)"),
    _sig(
        "host.heartbeat.lost",
        r"Heartbeat: HandleLockup:\d+: PCPU (?P<pcpu>\d+) didn't have a heartbeat for (?P<seconds>\d+) seconds",
    ),
)

# ---------------------------------------------------------------------------------------------------
# vobd: the event id in brackets names the event; the text gives subject and fields

_VOB_SUFFIX: dict[str, str] = {
    "storage.apd.start": "apd.start",
    "storage.apd.timeout": "apd.timeout",
    "storage.apd.exit": "apd.exit",
    "scsi.scsipath.pathstate.dead": "path.dead",
    "scsi.scsipath.pathstate.on": "path.on",
    "storage.redundancy.lost": "redundancy.lost",
    "storage.redundancy.degraded": "redundancy.lost",
    "storage.redundancy.restored": "redundancy.restored",
    "storage.connectivity.lost": "connectivity.lost",
    "storage.connectivity.restored": "connectivity.restored",
    "vmfs.nfs.server.disconnect": "nfs.server.lost",
    "vmfs.nfs.server.restored": "nfs.server.restored",
    "vmfs.heartbeat.timedout": "vmfs.heartbeat.timeout",
    "vmfs.heartbeat.recovered": "vmfs.heartbeat.reclaimed",
    "scsi.device.state.permanentloss": "pdl",
    "scsi.device.state.permanentloss.noopens": "pdl",
    "scsi.device.state.permanentloss.withreservationheld": "pdl",
}
_RE_VOB_ID = re.compile(r"\[(?P<sid>(?:vob|esx\.problem|esx\.clear)\.[\w.]+)\] ?(?P<text>.*)")
_RE_FORWARD = re.compile(r"The event \(\[(?P<sid>(?:vob|esx\.problem|esx\.clear)\.[\w.]+)\] ?(?P<text>.*)\) was sent")
_RE_IDENT = re.compile(r"identifier \[(?P<id>[^\]]+)\]")
_RE_SECONDS = re.compile(r"for (\d+) seconds")
_RE_SCSIPATH = re.compile(r"scsiPath (?P<path>\S+?)\.? changed state from (?P<from>\w+)")
_RE_VOB_PATH = re.compile(r"Path (?P<path>\S+?) is (?:down|active again)")
_RE_NFS_SHORT = re.compile(r"^(?P<server>[^/\s]+)(?P<mount_point>/\S*) (?P<volume>\S+) (?P<label>.+?)\s*$")
_RE_NFS_LONG = re.compile(_NFS_TEXT)
# "<uuid> (<label>) due to ..." and "<uuid> <label>  [Timeout] [HB state ...]" (labels may hold spaces)
_RE_VOL_PAREN = re.compile(r"(?P<volume><[^>]*>|\S+) \((?P<label>[^)]*)\)")
_RE_VOL_PLAIN = re.compile(r"(?P<volume><[^>]*>|\S+) (?P<label>.+?)(?:\s+\[.*)?$")


def _vol_label(text: str) -> tuple[str | None, Fields]:
    """(subject, {volume, label}) of a VMFS heartbeat text; the subject is the label."""
    t = text.split("Reclaimed heartbeat for volume ", 1)[-1].split("access to volume ", 1)[-1].strip()
    m = _RE_VOL_PAREN.match(t) or _RE_VOL_PLAIN.match(t)
    if m is None:
        return None, {}
    return m.group("label"), {"volume": m.group("volume"), "label": m.group("label")}


def _vob_text(name: str, sid: str, text: str) -> tuple[str | None, Fields]:
    """Subject and fields from the text of a vobd event."""
    fields: Fields = {}
    subject: str | None = None
    if name.startswith("apd."):
        m = _RE_IDENT.search(text)
        subject = m.group("id") if m else _dev(text)
        if name == "apd.timeout":
            s = _RE_SECONDS.search(text)
            if s:
                fields["seconds"] = int(s.group(1))
    elif name in ("path.dead", "path.on"):
        m = _RE_SCSIPATH.search(text)
        if m:
            subject = m.group("path")
            fields["path"], fields["from"] = m.group("path"), m.group("from")
    elif name.startswith(("redundancy.", "connectivity.")) or name == "pdl":
        subject = _dev(text)
        p = _RE_VOB_PATH.search(text)
        if p:
            fields["path"] = p.group("path").rstrip(".")
        if name != "pdl" or "atastores" in text:
            fields["datastores"] = _datastores(text)
        if sid.endswith(".degraded") or (name == "redundancy.lost" and " degraded" in text):
            fields["degraded"] = True
        elif name == "redundancy.lost":
            fields["degraded"] = False
    elif name.startswith("nfs.server."):
        m = _RE_NFS_LONG.search(text) or _RE_NFS_SHORT.search(text)
        if m:
            fields = {k: m.group(k) for k in ("server", "mount_point", "volume", "label")}
            subject = m.group("label") or m.group("volume")
    elif name.startswith("vmfs.heartbeat."):
        subject, fields = _vol_label(text)
    return subject, fields


def _vobd(m: re.Match[str]) -> tuple[str | None, Fields, str | None] | None:
    body = m.string
    if body.startswith("No correlator for"):
        return None
    fwd = _RE_FORWARD.search(body)
    mv = fwd or _RE_VOB_ID.search(body)
    if mv is None:
        return None
    sid = mv.group("sid")
    suffix = sid.split(".", 2)[2] if sid.startswith("esx.") else sid[4:]
    name = _VOB_SUFFIX.get(suffix)
    if name is None:
        return None
    subject, fields = _vob_text(name, sid, mv.group("text"))
    fields["_name"] = name
    if fwd:  # vobd's note that it forwarded an event to hostd: the same observation once more
        fields["forwarded"] = True
    return subject, fields, sid


def _esx4_vobd(degraded: bool | None = None) -> Handler:
    def handler(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
        text = m.string
        fields: Fields = {"datastores": _datastores(text)}
        p = _RE_VOB_PATH.search(text)
        if p:
            fields["path"] = p.group("path").rstrip(".")
        if degraded is not None:
            fields["degraded"] = degraded
        return _dev(text), fields, None

    return handler


_VOBD: tuple[Signature, ...] = (
    # The bracketed id decides the name: the handler returns it in fields["_name"].
    _sig("vob", r"\[(?:vob|esx\.problem|esx\.clear)\.[\w.]+\]", _vobd),
    # ESX 4.x vobd prints some observations without the id
    _sig("connectivity.lost", r"^\d+us: +Lost connectivity to storage device", _esx4_vobd()),
    _sig("redundancy.lost", r"^\d+us: +Lost path redundancy to storage device", _esx4_vobd(False)),
    _sig("redundancy.lost", r"^\d+us: +Path redundancy to storage device \S+ degraded", _esx4_vobd(True)),
)

# ---------------------------------------------------------------------------------------------------
# hostd


def _hostd_apd(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    name = "apd.exit" if m.group("verb") == "exited" else "apd.timeout" if m.group("timeout") else "apd.start"
    fields: Fields = {"_name": name}
    s = _RE_SECONDS.search(m.string, m.end())
    if name == "apd.timeout" and s:
        fields["seconds"] = int(s.group(1))
    return m.group("subject"), fields, f"Event {m.group('num')}"


def _path_fields(m: re.Match[str], keys: Sequence[str]) -> tuple[str | None, Fields, str | None]:
    fields: Fields = {k: int(m.group(k)) if k == "seconds" else m.group(k) for k in keys}
    ds, vm = _vm_of_path(m.group("path"))
    if vm is not None:
        fields["datastore"], fields["vm"] = ds, vm
    return m.group("path"), fields, None


def _hostd_event(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    """hostd's copy of a vobd event ("Event N : <vCenter message text>")."""
    text = m.group("text")
    sid = f"Event {m.group('num')}"
    if text.startswith(("Lost connection to server", "Restored connection to server")):
        name = "nfs.server.lost" if text.startswith("Lost") else "nfs.server.restored"
        mn = _RE_HOSTD_NFS.match(text)
        if mn is None:
            return None, {"_name": name}, sid
        fields: Fields = {k: mn.group(k) for k in ("server", "mount_point", "volume", "label")}
        return mn.group("label"), {**fields, "_name": name}, sid
    name = "vmfs.heartbeat.timeout" if text.startswith("Lost access") else "vmfs.heartbeat.reclaimed"
    subject, fields = _vol_label(text)
    return subject, {**fields, "_name": name}, sid


# vCenter message texts: "Lost connection to server {server} mount point {path} mounted as {uuid} ({label})."
_RE_HOSTD_NFS = re.compile(
    r"(?:Lost|Restored) connection to server (?P<server>\S+) mount point (?P<mount_point>.+?),? mounted as"
    r" (?P<volume>\S+) \((?P<label>[^)]*)\)"
)

_HOSTD: tuple[Signature, ...] = (
    _sig(
        "hostd.event",
        r"Event (?P<num>\d+) : (?P<text>(?:(?:Lost|Restored) connection to server |Lost access to volume "
        r"|Successfully restored access to volume ).*)",
        _hostd_event,
    ),
    _sig(
        "apd",
        r"Event (?P<num>\d+) : Device or filesystem with identifier \[?(?P<subject>[^\s\]]+)\]? has "
        r"(?P<verb>entered|exited) the All Paths Down (?P<timeout>Timeout )?state",
        _hostd_apd,
    ),
    _sig(
        "hostd.slow_io",
        r"sub=IoTracker[^\]]*\] In thread (?P<thread>\d+), (?P<op>\w+)\(\"(?P<path>[^\"]*)\"\) took over "
        r"(?P<seconds>\d+) sec",
        lambda m: _path_fields(m, ("op", "path", "seconds", "thread")),
    ),
    _sig(
        "hostd.io_error",
        r"DictionaryLoad: Cannot open file \"(?P<path>[^\"]*)\": (?P<error>.*?)\.?\s*$",
        lambda m: _path_fields(m, ("path", "error")),
    ),
)

# ---------------------------------------------------------------------------------------------------
# vmware.log (WinBSOD MSR lines are aggregated by EventBuilder, not matched one by one)

_VMWARE: tuple[Signature, ...] = (
    _sig("guest.tools_heartbeat.lost", r"^Tools: Tools heartbeat timeout\."),
    # the whole body: "CPU reset: soft" quoted inside another message is not a reset
    _sig("guest.reset", r"^CPU reset: (?P<kind>soft|hard)(?: \(mode [^()]*\))?\s*$"),
)
_RE_MSR = re.compile(r"WinBSOD: Synthetic MSR\[0x[0-9a-fA-F#Xx]{7}(?P<idx>[0-4])\] (?P<val>0x[0-9a-fA-F]+)")

# ---------------------------------------------------------------------------------------------------
# vmksummary

_RE_UP = re.compile(r"^up (\d+)d(\d+)h(\d+)m(\d+)s, (\d+) VMs?;")
_RE_PROC = re.compile(r"\[(\d+) (\S+) (\d+)kB\]")
_RE_CPU = re.compile(r"\[(\d+) (\S+) (\d+)%max\]")


def _memory_esxi(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    d, h, mi, s, vms = (int(x) for x in m.groups())
    body = m.string
    fields: Fields = {
        "format": "esxi",
        "uptime_s": float(((d * 24 + h) * 60 + mi) * 60 + s),
        "vms": vms,
        "swap_bytes": None,
        "processes": [{"name": n, "id": int(w), "mem_kb": int(k)} for w, n, k in _RE_PROC.findall(body)],
        "cpu": [{"name": n, "id": int(w), "cpu_pct": int(c)} for w, n, c in _RE_CPU.findall(body)],
        "epoch": None,
    }
    return None, fields, None


def _int_or_none(items: list[str], i: int) -> int | None:
    return int(items[i]) if len(items) > i and _is_int(items[i]) else None


def _memory_esx3(m: re.Match[str]) -> tuple[str | None, Fields, str | None] | None:
    # "<uptime>, <x>, <nvms>, <x>, <x>, <swap-bytes>, name-kB, ..." (KB 308590); the KB's copy is truncated
    items = [x.strip() for x in m.group("rest").split(",")]
    try:
        uptime = float(items[0])
    except ValueError:
        return None
    procs = []
    for item in items[6:]:
        name, _, kb = item.rpartition("-")
        if name and _is_int(kb):
            procs.append({"name": name, "id": None, "mem_kb": int(kb)})
    fields: Fields = {
        "format": "esx3",
        "uptime_s": uptime,
        "vms": _int_or_none(items, 2),
        "swap_bytes": _int_or_none(items, 5),
        "processes": procs,
        "cpu": [],
        "epoch": int(m.group("epoch")),
    }
    return None, fields, None


def _bootstop(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    how = m.group("how")
    if how == "has booted":
        return None, {"_name": "host.boot"}, None
    return None, {"_name": "host.shutdown", "how": how.removeprefix("is ")}, None


def _vmkhalt(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    what, epoch = m.group("what"), int(m.group("epoch"))
    if what == "Starting":
        return None, {"_name": "host.boot", "epoch": epoch}, None
    return None, {"_name": "host.shutdown", "how": what.lower(), "epoch": epoch}, None


_VMKSUMMARY: tuple[Signature, ...] = (
    _sig("bootstop", r"^Host (?P<how>has booted|is rebooting|is powering off|is halting)", _bootstop),
    _sig("vmkhalt", r"^\((?P<epoch>\d+)\) (?P<what>Rebooting|Starting|Halting) system", _vmkhalt),
    _sig("host.boot", r"^\((?P<epoch>\d+)\) loaded VMkernel"),
    _sig("host.memory.sample", _RE_UP.pattern, _memory_esxi),
    _sig("host.memory.sample", r"^\((?P<epoch>\d+)\) hb: vmk loaded, (?P<rest>.*)", _memory_esx3),
)

SIGNATURES: dict[str, tuple[Signature, ...]] = {
    "vmkernel": _VMKERNEL,
    "psod": _PSOD,
    "vobd": _VOBD,
    "hostd": _HOSTD,
    "vmware": _VMWARE,
    "vmksummary": _VMKSUMMARY,
}
_BY_KIND: dict[LogKind, tuple[Signature, ...]] = {
    LogKind.VMKERNEL: _VMKERNEL + _PSOD,
    LogKind.VOBD: _VOBD,
    LogKind.HOSTD: _HOSTD,
    LogKind.VMWARE: _VMWARE,
    LogKind.VMKSUMMARY: _VMKSUMMARY,
}
# OTHER logs (messages, syslog, console captures) carry lines of several programs: choose by program.
_BY_PROGRAM: dict[str, tuple[Signature, ...]] = {
    "vmkernel": _VMKERNEL + _PSOD,
    "vmkwarning": _VMKERNEL + _PSOD,
    "vmkalert": _VMKERNEL + _PSOD,
    "vobd": _VOBD,
    "hostd": _HOSTD,
    "logger": _VMKSUMMARY,
    "vmkhalt": _VMKSUMMARY,
    "bootstop": _VMKSUMMARY,
    "heartbeat": _VMKSUMMARY,
}


def signatures_for(line: LogLine) -> tuple[Signature, ...]:
    """The signatures that apply to a line: by log kind, or by program for mixed (OTHER) logs."""
    if line.kind is not LogKind.OTHER:
        return _BY_KIND[line.kind]
    return _BY_PROGRAM.get((line.program or "").lower(), _PSOD)


# ---------------------------------------------------------------------------------------------------
# Prefilter: cheap patterns every event line matches (Hyperscan- and POSIX-ERE-compatible: no \d, no
# lookaround, no named or non-capturing groups). False positives are fine, misses are bugs.

PREFILTER: tuple[str, ...] = (
    # vmkernel
    r"APD_(START|EXIT|TIMEOUT)",
    r"APD ([Ss]tart|[Ee]xit) for",
    r"is Out of APD",
    r"Valid sense data: 0x5 0x25 0x0",
    r"permanently inaccessible",
    r"connection to (the )?server",
    r"Waiting for timed out",
    r"Reclaimed (timed out )?heartbeat",
    r"iSCSI connection is being marked",
    r"lost liveness",
    r"Lost heartbeat",
    r"didn't have a heartbeat",
    r"@BlueScreen:",
    # vobd
    r"(vob|esx\.problem|esx\.clear)\.(storage\.(apd|redundancy|connectivity)|scsi\.scsipath\.pathstate"
    r"|vmfs\.(nfs\.server|heartbeat)|scsi\.device\.state\.permanentloss)",
    r"(redundancy|connectivity) to storage device",
    # hostd
    r"All Paths Down",
    r"(Lost|restored) access to volume",
    r"sub=IoTracker",
    r"DictionaryLoad: Cannot open file",
    # vmware.log
    r"WinBSOD: Synthetic MSR",
    r"Tools heartbeat timeout",
    r"CPU reset: (soft|hard)",
    # vmksummary
    r"Host (has booted|is rebooting|is powering off|is halting)",
    r"(Rebooting|Starting|Halting) system",
    r"loaded VMkernel",
    r"up [0-9]+d[0-9]+h[0-9]+m",
    r"hb: vmk loaded",
)
# One POSIX ERE for `grep -E` equivalent to the union of PREFILTER.
GREP_UNION: str = "|".join(f"({p})" for p in PREFILTER)

# ---------------------------------------------------------------------------------------------------
# Event building


def _match(line: LogLine) -> tuple[str, str | None, Fields, str | None] | None:
    for sig in signatures_for(line):
        res = sig.apply(line.body)
        if res is not None:
            subject, fields, sid = res
            name = fields.pop("_name", sig.name)
            return name, subject, fields, sid if sid is not None else sig.source_id
    return None


_RE_VM_LOG = re.compile(r"([^/\\]+)[/\\]vmware(?:-\d+)?\.log(?:\.\d+)?(?:\.gz)?$")


def _vm_of_log(file: str) -> str | None:
    """The VM folder of …/<vm>/vmware.log (also vmware-N.log and rotated copies), else None."""
    m = _RE_VM_LOG.search(file)
    return m.group(1) if m else None


_MSR_FLUSH_GAP = 20  # non-MSR lines after which an incomplete BSOD set is emitted


@dataclass(slots=True)
class _PendingBsod:
    line: LogLine
    values: dict[int, int] = field(default_factory=dict)
    gap: int = 0


def _hex(v: int | None) -> str | None:
    return None if v is None else f"0x{v:X}"


class EventBuilder:
    """Turns the parsed lines of ONE log stream (a file or a rotated set), in order, into catalog events."""

    def __init__(self, *, host: str = "", file: str = "") -> None:
        self._host = host
        self._file = file
        self._bsod: _PendingBsod | None = None
        self._last_hb: Event | None = None
        # (line number, error) of lines a signature handler failed on: kept for reports, never raised
        self.errors: list[tuple[int, str]] = []

    def _event(self, line: LogLine, name: str, subject: str | None, fields: Fields, sid: str | None) -> Event:
        return Event(
            name=name, time=line.time, host=self._host or line.host, file=line.file or self._file,
            line_no=line.line_no, raw=line.raw, subject=subject, fields=fields, source_id=sid, kind=line.kind,
        )  # fmt: skip

    def feed(self, line: LogLine) -> list[Event]:
        """Events completed by this line (a BSOD set is emitted when complete or interrupted)."""
        out: list[Event] = []
        msr = _RE_MSR.search(line.body) if "WinBSOD" in line.body else None
        if msr is not None:
            idx, val = int(msr.group("idx")), int(msr.group("val"), 16)
            pending = self._bsod
            if pending is not None and (idx in pending.values or idx < max(pending.values)):
                out.extend(self._flush_bsod())  # a new crash starts before the old set was complete
            if self._bsod is None:
                self._bsod = _PendingBsod(line)
            self._bsod.values[idx] = val
            self._bsod.gap = 0
            if len(self._bsod.values) == 5:
                out.extend(self._flush_bsod())
            return out
        try:
            found = _match(line)
        except Exception as exc:  # one odd line must not stop a triage; tests assert `errors` stays empty
            self.errors.append((line.line_no, f"{type(exc).__name__}: {exc}"))
            found = None
        if self._bsod is not None:
            if not line.continuation:
                self._bsod.gap += 1
            if found is not None or self._bsod.gap > _MSR_FLUSH_GAP:
                out.extend(self._flush_bsod())
        if found is not None:
            ev = self._event(line, *found)
            if ev.name == "host.heartbeat.lost":
                self._link_cos_error(ev)
            elif ev.name == "guest.reset":  # the VM and the vCPU are in the file name and header, not the body
                ev.subject = _vm_of_log(ev.file)
                ev.fields["vcpu"] = line.program
            out.append(ev)
        return out

    def _link_cos_error(self, ev: Event) -> None:
        # "Host: COS Error: Lost heartbeat" reports the loss the preceding VMNIX HB alert already logged
        last = self._last_hb
        if "COS Error" in ev.raw and last is not None and 0 < ev.line_no - last.line_no <= 5:
            ev.twin = last.key
        else:
            self._last_hb = ev

    def close(self) -> list[Event]:
        """End of stream: emit what is pending (an incomplete BSOD set, complete=False)."""
        return self._flush_bsod()

    def _flush_bsod(self) -> list[Event]:
        p, self._bsod = self._bsod, None
        if p is None:
            return []
        code = p.values.get(0)
        params = [p.values.get(i) for i in range(1, 5)]
        fields: Fields = {
            "code": code,
            "code_hex": _hex(code),
            "name": bugcheck_name(code) if code is not None else None,
            "params": params,
            "params_hex": [_hex(v) for v in params],
            "complete": len(p.values) == 5,
        }
        if code is not None:
            status = status_name(code, params)
            if status is not None:
                fields["status_name"] = status
        return [self._event(p.line, "guest.bsod", _vm_of_log(p.line.file or self._file), fields, None)]


def events_from_lines(lines: Sequence[LogLine], *, host: str = "", file: str = "") -> list[Event]:
    """All events of one stream's lines (feed + close), twins linked."""
    b = EventBuilder(host=host, file=file)
    out: list[Event] = []
    for line in lines:
        out.extend(b.feed(line))
    out.extend(b.close())
    link_twins(out)
    return out


# ---------------------------------------------------------------------------------------------------
# vob.* / esx.* twins

_TWIN_SECONDS = 2.0
_TWIN_LINES = 6  # masked times: the twin must be this close in the same file


def _close(a: Event, b: Event) -> float | None:
    """A distance if a and b may be one observation, else None."""
    if a.time is not None and b.time is not None:
        d = abs((a.time - b.time).total_seconds())
        return d if d <= _TWIN_SECONDS else None
    if a.file == b.file and abs(a.line_no - b.line_no) <= _TWIN_LINES:
        return float(abs(a.line_no - b.line_no))
    return None


def _is_vob(e: Event) -> bool:
    return bool(e.source_id and e.source_id.startswith("vob.") and not e.fields.get("forwarded"))


def link_twins(events: Sequence[Event]) -> None:
    """Set `twin` on each esx.* event (and each vobd "forwarded" note) to its vob.* twin. In place.

    Twins have the same name, host and subject and are within 2 s (or, with masked times, within a few
    lines of the same file). Each vob.* event is the twin of at most one esx.* event.
    """
    index: dict[tuple[str, str, str | None], list[Event]] = {}
    for e in events:
        if _is_vob(e) or (e.source_id and e.source_id.startswith("esx.") and not e.fields.get("forwarded")):
            index.setdefault((e.name, e.host, e.subject), []).append(e)
    used: set[tuple[str, int]] = set()
    for e in events:
        sid = e.source_id or ""
        forwarded = bool(e.fields.get("forwarded"))
        if e.twin is not None or not (forwarded or sid.startswith("esx.")):
            continue
        best: tuple[float, Event] | None = None
        for cand in index.get((e.name, e.host, e.subject), ()):
            if cand is e or cand.key in used or not (forwarded or _is_vob(cand)):
                continue
            d = _close(e, cand)
            if d is not None and (best is None or d < best[0]):
                best = (d, cand)
        if best is not None:
            e.twin = best[1].key
            if not forwarded:
                used.add(best[1].key)
