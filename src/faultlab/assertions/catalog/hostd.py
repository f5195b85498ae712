"""hostd.log signatures: vCenter event copies (APD, NFS, VMFS access, guest reboot), slow and failed VM file I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence

from faultlab.assertions.catalog.base import RE_SECONDS, Fields, Sample, Signature, sig, vm_of_path, vol_label
from faultlab.assertions.lazyre import lazy_re

_HOSTD = "reference/log-samples/hostd.log.txt:"


def _hostd_apd(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    name = "apd.exit" if m.group("verb") == "exited" else "apd.timeout" if m.group("timeout") else "apd.start"
    fields: Fields = {"_name": name}
    s = RE_SECONDS.search(m.string, m.end())
    if name == "apd.timeout" and s:
        fields["seconds"] = int(s.group(1))
    return m.group("subject"), fields, f"Event {m.group('num')}"


def _path_fields(m: re.Match[str], keys: Sequence[str]) -> tuple[str | None, Fields, str | None]:
    # a line cut short keeps what is left: no seconds / error when the cut fell before them
    fields: Fields = {k: int(v) if k == "seconds" else v for k in keys if (v := m.group(k)) is not None}
    ds, vm = vm_of_path(m.group("path"))
    if vm is not None:
        fields["datastore"], fields["vm"] = ds, vm
    return m.group("path"), fields, None


# vCenter message texts: "Lost connection to server {server} mount point {path} mounted as {uuid} ({label})."
_RE_HOSTD_NFS = lazy_re(
    r"(?:Lost|Restored) connection to server (?P<server>\S+) mount point (?P<mount_point>.+?),? mounted as"
    r" (?P<volume>\S+) \((?P<label>[^)]*)\)"
)


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
    subject, fields = vol_label(text)
    return subject, {**fields, "_name": name}, sid


def _guest_reboot(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    """VmGuestRebootEvent, "Guest OS reboot for {vm} on {host} in {datacenter}": a guest-initiated restart."""
    fields: Fields = {"kind": "soft"}
    if m.group("vm"):
        fields["vm"] = m.group("vm")
    return m.group("vm"), fields, f"Event {m.group('num')}"


SIGNATURES: tuple[Signature, ...] = (
    sig("hostd.event",
        r"Event (?P<num>\d+) : (?P<text>(?:(?:Lost|Restored) connection to server |Lost access to volume "
        r"|Successfully restored access to volume ).*)",
        r"(Lost|restored) access to volume",
        handler=_hostd_event,
        no_sample="no published hostd.log line carries these NFS/VMFS event texts with their 'Event N :' prefix; "
        "the texts are vCenter's catalog messages (reference/esxi-facts.md sections 2 and 4)"),
    sig("apd",
        r"Event (?P<num>\d+) : Device or filesystem with identifier \[?(?P<subject>[^\s\]]+)\]? has "
        # a line cut short right after "All Paths Down" still says which; cut inside "Timeout" it does not
        r"(?P<verb>entered|exited) the All Paths Down(?: (?P<timeout>Timeout)\b| state|\s*$)",
        r"All Paths Down",
        Sample("2018-07-06T21:02:11.204Z info hostd[B781B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3026 "
               ": Device or filesystem with identifier naa.60014055c425cd10a874374b415629b3 has entered the All "
               "Paths Down state.", _HOSTD + "8"),
        Sample("2018-07-06T21:02:22.566Z info hostd[B381B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3031 "
               ": Device or filesystem with identifier naa.60014055c425cd10a874374b415629b3 has exited the All "
               "Paths Down state.", _HOSTD + "9"),
        handler=_hostd_apd),
    sig("guest.reset",
        r"Event (?P<num>\d+) : Guest OS reboot(?: for (?P<vm>.+?) on (?P<host>\S+) in \S+)?",
        r"Guest OS reboot", handler=_guest_reboot,
        no_sample="vCenter's VmGuestRebootEvent message 'Guest OS reboot for {vm.name} on {host.name} in "
        "{datacenter.name}' (vSphere API event catalog) as issue 12 item 5 names it; no hostd.log copy of it was "
        "found in the published material"),
    # the closing quote and "took over N sec" may be missing on a line cut short
    sig("hostd.slow_io",
        r"sub=IoTracker[^\]]*\] In thread (?P<thread>\d+), (?P<op>\w+)\(\"(?P<path>[^\"]+)"
        r"(?:\"\) took over (?P<seconds>\d+) sec)?",
        r"sub=IoTracker",
        Sample('[YYYY-MM-DDTHH:MM:SS] warning hostd[2104418] [Originator@6876 sub=IoTracker] In thread 2927571, '
               'fopen("/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx") took over 140 sec.',
               _HOSTD + "21 (KB 392634)"),
        Sample('2020-06-21T18:26:45.219Z warning hostd[2099995] [Originator@6876 sub=IoTracker] In thread 2100530, '
               'stat("/vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/CNSU01WS5004/CNSU01WS5004_1.vmdk") took '
               'over 2900 sec.', _HOSTD + "30"),
        handler=lambda m: _path_fields(m, ("op", "path", "seconds", "thread"))),
    # only files on a datastore: hostd reads its own config files the same way and misses some routinely
    # ('DictionaryLoad: Cannot open file "/usr/lib/vmware/config": No such file or directory')
    sig("hostd.io_error",
        r"DictionaryLoad: Cannot open file \"(?P<path>/vmfs/volumes/[^\"]+)(?:\": (?P<error>.*?)\.?\s*$)?",
        r"DictionaryLoad: Cannot open file",
        Sample('[YYYY-MM-DDTHH:MM:SS] info hostd[2102535] [Originator@6876 sub=Libs '
               'opID=########-########-####-####-h5:########-##-##-##-####] DictionaryLoad: Cannot open file '
               '"/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx": Input/output error.',
               _HOSTD + "23 (KB 392634)"),
        Sample('2020-06-26T06:22:54.501Z info hostd[2099996] [Originator@6876 sub=vm] DictionaryLoad: Cannot open '
               'file "/vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2007/cnsu01ls2007.vmx": Connection '
               'timed out.', _HOSTD + "33"),
        handler=lambda m: _path_fields(m, ("path", "error"))),
)  # fmt: skip
