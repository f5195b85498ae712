"""What a signature is (regex, handler, prefilter, real samples) and the text helpers the log kinds share."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultlab.assertions.lazyre import LazyPattern, lazy_re

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
#   (hostd's "Event N : Guest OS reboot for <vm> ..." is a guest.reset too: subject and {vm} the VM, kind soft)
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
class Sample:
    """A real log line a signature must read, and where it was published (file, KB, thread)."""

    line: str
    source: str


@dataclass(frozen=True, slots=True)
class Signature:
    """One rule: an event `name`, a regex searched in the line body, and how to read subject/fields.

    `prefilter` is a cheap POSIX-ERE / Hyperscan pattern every line the rule reads matches (no \\d, no
    lookaround, no named or non-capturing groups): the scanner looks at nothing else. `samples` are real
    lines; tests/unit/assertions/test_catalog_samples.py holds every rule to them.
    """

    name: str
    pattern: LazyPattern
    prefilter: str
    samples: tuple[Sample, ...] = ()
    handler: Handler | None = None  # default: group "subject" + every other named group as a field
    source_id: str | None = None  # static ESXi event id when the line itself names none
    no_sample: str = ""  # why no real line exists (then `samples` may be empty)

    def apply(self, body: str) -> tuple[str | None, Fields, str | None] | None:
        m = self.pattern.search(body)
        if m is None:
            return None
        if self.handler is not None:
            return self.handler(m)
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        subject = groups.pop("subject", None)
        return subject, {k: _num(v) for k, v in groups.items()}, self.source_id


def sig(
    name: str,
    pattern: str,
    prefilter: str,
    *samples: Sample,
    handler: Handler | None = None,
    source_id: str | None = None,
    no_sample: str = "",
) -> Signature:
    return Signature(name, lazy_re(pattern), prefilter, samples, handler, source_id, no_sample)


def is_int(v: str) -> bool:
    return v.isascii() and v.isdigit()  # str.isdigit alone accepts "¹", which int() refuses


def _num(v: str) -> Any:
    return int(v) if is_int(v) else v


# Storage device identifiers as ESXi prints them (naa./mpx./t10./eui./vml.).
DEV = r"(?:naa|mpx|t10|eui|vml)\.[^\s\"'\[\](),;]+"
_RE_DEV = lazy_re(DEV)
RE_PATH = lazy_re(r"\b(vmhba\d+:C\d+:T\d+:L\d+)")
_RE_QUOTED = lazy_re(r"\"([^\"]*)\"|'([^']*)'")
RE_SECONDS = lazy_re(r"for (\d+) seconds")


def dev(text: str) -> str | None:
    m = _RE_DEV.search(text)
    return m.group(0).rstrip(".:") if m else None


def datastores(text: str) -> list[str]:
    """Labels in 'Affected datastores: "a", "b"' / '(Datastores: "a")'; empty names dropped."""
    idx = text.lower().find("datastores:")
    if idx < 0:
        return []
    return [a or b for a, b in _RE_QUOTED.findall(text[idx:]) if a or b]


def vm_of_path(path: str) -> tuple[str | None, str | None]:
    """(datastore, vm folder) of /vmfs/volumes/<ds>/<vm>/<file>."""
    parts = path.split("/")
    if len(parts) >= 6 and parts[1] == "vmfs" and parts[2] == "volumes":
        return parts[3], parts[4]
    return None, None


# vCenter/vmkernel message text of an NFS server loss or return
NFS_TEXT = (
    r"(?:Lost|Restored) connection to (?:the )?server (?P<server>\S+) mount point (?P<mount_point>.+?),"
    r" mounted as (?P<volume>\S+) \(\"(?P<label>[^\"]*)\"\)"
)
# "<uuid> (<label>) due to ..." and "<uuid> <label>  [Timeout] [HB state ...]" (labels may hold spaces)
_RE_VOL_PAREN = lazy_re(r"(?P<volume><[^>]*>|\S+) \((?P<label>[^)]*)\)")
_RE_VOL_PLAIN = lazy_re(r"(?P<volume><[^>]*>|\S+) (?P<label>.+?)(?:\s+\[.*)?$")


def vol_label(text: str) -> tuple[str | None, Fields]:
    """(subject, {volume, label}) of a VMFS heartbeat text; the subject is the label."""
    t = text.split("Reclaimed heartbeat for volume ", 1)[-1].split("access to volume ", 1)[-1].strip()
    m = _RE_VOL_PAREN.match(t) or _RE_VOL_PLAIN.match(t)
    if m is None:
        return None, {}
    return m.group("label"), {"volume": m.group("volume"), "label": m.group("label")}
