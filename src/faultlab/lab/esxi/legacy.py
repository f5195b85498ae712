"""ESX(i) 3.x/4.x storage listings, which have no `esxcli storage` namespace: `esxcfg-nas -l`, `esxcfg-scsidevs -m`
and `esxcfg-scsidevs -l`, read into the role's typed records. Lines no rule fits are returned as odd, never dropped.

Real layouts (public blog and script captures, found with the search tool; GitHub code-index ids):
- `esxcfg-nas -l`: `export_1 is /vol/export_1 from 10.204.x.29 mounted` (10894030734), `nfs_datastore1 is
  /mnt/vg_nfs/lv_nfs01/nfs_datastore1 from openfiler.mlab.local not mounted` (27243124349, a vSphere 4 vMA),
  `NAS_1 is /vol/data1 from 10.178.250.10` with no state (10954267383, an ESXi 4 host), `... mounted available` /
  `unavailable` on 5.x and later (37549674546, 22299104654), and `No NAS datastore found` (27243124349).
- `esxcfg-scsidevs -m`: `<device>:<partition> /vmfs/devices/disks/<device>:<partition> <VMFS UUID> <extent> <label>`
  (11458780414, 11105288503, 21153717444: ESXi 5.x hosts; no 4.x capture was found, the command and its columns
  date from ESX 4.0).
- `esxcfg-scsidevs -l`: a device id at column 0, then indented `Key: value` lines, several pairs on one line
  (`SCSI Level: 2  Is Pseudo: false Status: on`, `Vendor: DELL      Model: PERC H700         Revis: 2.10`) and
  `Other Names:` followed by more indented names (6537168669, an ESXi 5.5 host; no 4.x capture was found).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# "<name> is <share> from <server>[ <state>]": the name may hold spaces, the server is one word.
_NAS = re.compile(r"^(?P<name>.+?) is (?P<share>.*) from (?P<server>\S+)(?:\s+(?P<state>.*?))?\s*$")
_NAS_STATES = {"mounted", "unmounted", "not mounted", "mounted available", "mounted unavailable", ""}
_NO_NAS = "No NAS datastore found"
_SCSIDEVS_M = re.compile(
    r"^(?P<partition>\S+:\d+)\s+(?P<devfs>/vmfs/devices/\S+)\s+(?P<uuid>[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"\s+(?P<extent>\d+)\s+(?P<label>.*?)\s*$"
)
# A key: capitalised words (or ALL-CAPS: RDM, SCSI, VAAI) at a line start or after a space, then ":" and a space or
# the line end. Values are what lies between keys.
_KEY = re.compile(r"(?:(?<=\s)|^)(?P<key>[A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*):(?=\s|$)")


@dataclass(frozen=True, slots=True)
class NasMount:
    """One line of `esxcfg-nas -l`."""

    name: str
    share: str
    server: str
    state: str  # mounted, not mounted, unmounted, mounted available, mounted unavailable, or "" (none printed)

    @property
    def mounted(self) -> bool:
        return self.state.startswith("mounted")

    @property
    def accessible(self) -> bool:
        """Mounted and not reported unavailable (5.x's second word); a line with no state at all is not accessible:
        it is not said to be mounted."""
        return self.mounted and not self.state.endswith("unavailable")


def parse_esxcfg_nas(text: str) -> tuple[list[NasMount], list[str]]:
    mounts: list[NasMount] = []
    odd: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == _NO_NAS:
            continue
        m = _NAS.match(line)
        state = (m["state"] or "") if m else ""
        if m is None or state not in _NAS_STATES:
            odd.append(line)
            continue
        mounts.append(NasMount(m["name"], m["share"], m["server"], state))
    return mounts, odd


@dataclass(frozen=True, slots=True)
class VmfsVolume:
    """One line of `esxcfg-scsidevs -m`: a mounted VMFS volume's extent."""

    partition: str  # naa.600...:1
    devfs: str
    uuid: str
    extent: int
    label: str

    @property
    def device(self) -> str:
        return self.partition.rsplit(":", 1)[0]


def parse_scsidevs_m(text: str) -> tuple[list[VmfsVolume], list[str]]:
    volumes: list[VmfsVolume] = []
    odd: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        m = _SCSIDEVS_M.match(line)
        if m is None:
            odd.append(line)
            continue
        volumes.append(VmfsVolume(m["partition"], m["devfs"], m["uuid"], int(m["extent"]), m["label"]))
    return volumes, odd


@dataclass
class ScsiDevice:
    """One block of `esxcfg-scsidevs -l`: its id and every `Key: value` as printed ("Other Names" joined by
    spaces)."""

    id: str
    fields: dict[str, str] = field(default_factory=dict)


def parse_scsidevs_l(text: str) -> tuple[list[ScsiDevice], list[str]]:
    devices: list[ScsiDevice] = []
    odd: list[str] = []
    continued: str | None = None  # the key whose value goes on in the next, deeper-indented lines (Other Names)
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if not raw[0].isspace():
            devices.append(ScsiDevice(raw.strip().rstrip(":")))
            continued = None
            continue
        if not devices:
            odd.append(raw.strip())
            continue
        dev = devices[-1]
        keys = list(_KEY.finditer(raw))
        if not keys:
            if continued is not None:
                dev.fields[continued] = f"{dev.fields[continued]} {raw.strip()}".strip()
            else:
                odd.append(raw.strip())
            continue
        if raw[: keys[0].start()].strip():
            odd.append(raw.strip())  # text before the first key: a value no rule places
        continued = None
        for i, k in enumerate(keys):
            end = keys[i + 1].start() if i + 1 < len(keys) else len(raw)
            value = raw[k.end() + 1 : end].strip() if k.end() < len(raw) else ""
            dev.fields[k["key"]] = value
            continued = k["key"] if value == "" and i == len(keys) - 1 else None
    return devices, odd
