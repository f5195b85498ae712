"""vobd.log signatures: the bracketed vob/esx event id names the event, its text gives subject and fields."""

from __future__ import annotations

import re

from faultlab.assertions.catalog.base import (
    NFS_TEXT,
    RE_SECONDS,
    Fields,
    Handler,
    Sample,
    Signature,
    datastores,
    dev,
    sig,
    vol_label,
)
from faultlab.assertions.lazyre import lazy_re

_VOBD = "reference/log-samples/vobd.log.txt:"

VOB_SUFFIX: dict[str, str] = {
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
_RE_VOB_ID = lazy_re(r"\[(?P<sid>(?:vob|esx\.problem|esx\.clear)\.[\w.]+)\] ?(?P<text>.*)")
_RE_FORWARD = lazy_re(r"The event \(\[(?P<sid>(?:vob|esx\.problem|esx\.clear)\.[\w.]+)\] ?(?P<text>.*)\) was sent")
# ESXi 8 versions some vob ids: vob.scsi.scsipath.pathstate.deadver2 is pathstate.dead's second text layout
_RE_VERSION = lazy_re(r"ver\d+$")
_RE_IDENT = lazy_re(r"identifier \[(?P<id>[^\]]+)\]")
_RE_SCSIPATH = lazy_re(r"scsiPath (?P<path>\S+?)\.? changed state from (?P<from>\w+)")
_RE_VOB_PATH = lazy_re(r"Path (?P<path>\S+?) is (?:down|active again)")
_RE_NFS_SHORT = lazy_re(r"^(?P<server>[^/\s]+)(?P<mount_point>/\S*) (?P<volume>\S+) (?P<label>.+?)\s*$")
_RE_NFS_LONG = lazy_re(NFS_TEXT)


def event_of(sid: str) -> str | None:
    """The catalog name of a vob/esx event id, None when the catalog does not read it."""
    suffix = sid.split(".", 2)[2] if sid.startswith("esx.") else sid[4:]
    return VOB_SUFFIX.get(suffix) or VOB_SUFFIX.get(_RE_VERSION.sub("", suffix))


def _vob_text(name: str, sid: str, text: str) -> tuple[str | None, Fields]:
    """Subject and fields from the text of a vobd event."""
    fields: Fields = {}
    subject: str | None = None
    if name.startswith("apd."):
        m = _RE_IDENT.search(text)
        subject = m.group("id") if m else dev(text)
        if name == "apd.timeout":
            s = RE_SECONDS.search(text)
            if s:
                fields["seconds"] = int(s.group(1))
    elif name in ("path.dead", "path.on"):
        m = _RE_SCSIPATH.search(text)
        if m:
            subject = m.group("path")
            fields["path"], fields["from"] = m.group("path"), m.group("from")
    elif name.startswith(("redundancy.", "connectivity.")) or name == "pdl":
        subject = dev(text)
        p = _RE_VOB_PATH.search(text)
        if p:
            fields["path"] = p.group("path").rstrip(".")
        if name != "pdl" or "atastores" in text:
            fields["datastores"] = datastores(text)
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
        subject, fields = vol_label(text)
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
    name = event_of(sid)
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
        fields: Fields = {"datastores": datastores(text)}
        p = _RE_VOB_PATH.search(text)
        if p:
            fields["path"] = p.group("path").rstrip(".")
        if degraded is not None:
            fields["degraded"] = degraded
        return dev(text), fields, None

    return handler


SIGNATURES: tuple[Signature, ...] = (
    # The bracketed id decides the name: the handler returns it in fields["_name"].
    sig("vob", r"\[(?:vob|esx\.problem|esx\.clear)\.[\w.]+\]",
        r"(vob|esx\.problem|esx\.clear)\.(storage\.(apd|redundancy|connectivity)|scsi\.scsipath\.pathstate"
        r"|vmfs\.(nfs\.server|heartbeat)|scsi\.device\.state\.permanentloss)",
        Sample("YYYY-MM-DDTHH:MM:SS.###Z: [APDCorrelator] 1960326656825us: [vob.storage.apd.start] Device or "
               "filesystem with identifier [mpx.vmhba32:C0:T0:L0] has entered the All Paths Down state.",
               _VOBD + "9"),
        Sample("YYYY-MM-DDTHH:MM:SS.###Z: [scsiCorrelator] 1960326656798us: [vob.scsi.scsipath.pathstate.dead] "
               "scsiPath vmhba32:C0:T0:L0 changed state from on", _VOBD + "10"),
        Sample('2012-05-22T07:02:04.681Z: [scsiCorrelator] 1680923124828us: [esx.problem.storage.redundancy.'
               'degraded] Path redundancy to storage device naa.6000144000000010a00f545a97c5704a degraded. Path '
               'vmhba2:C0:T1:L1 is down. Affected datastores: "Vplex_HP1".', _VOBD + "28"),
        handler=_vobd),
    # ESX 4.x vobd prints some observations without the id
    sig("connectivity.lost", r"^\d+us: +Lost connectivity to storage device",
        r"(redundancy|connectivity) to storage device",
        Sample('Aug 15 06:07:13 vobd: Aug 15 06:07:13.285: 171974745962us:  Lost connectivity to storage device '
               'naa.60060xxx. Path vmhba39:C0:T0:L0 is down. Affected datastores: "VMFS_Volume01"..', _VOBD + "22"),
        handler=_esx4_vobd()),
    sig("redundancy.lost", r"^\d+us: +Lost path redundancy to storage device",
        r"(redundancy|connectivity) to storage device",
        Sample('Aug 15 06:07:13 vobd: Aug 15 06:07:13.286: 171974746430us:  Lost path redundancy to storage device '
               'naa.6006xxx. Path vmhba39:C0:T0:L1 is down. Affected datastores: "VMFS_Volume02"..', _VOBD + "24"),
        handler=_esx4_vobd(False)),
    sig("redundancy.lost", r"^\d+us: +Path redundancy to storage device \S+ degraded",
        r"(redundancy|connectivity) to storage device", handler=_esx4_vobd(True),
        no_sample="the published 'degraded' texts carry their esx.problem id (vobd.log.txt:28, KB 404949); this "
        "id-less ESX 4.x form follows the id-less 'Lost path redundancy' line of the same host (line 24)"),
)  # fmt: skip
