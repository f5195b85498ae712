"""ESXi-style VMFS/system UUIDs: creation time, a TSC word, a random word and the creating host's vmnic0 MAC."""

# A real one (audit C10, a real lab, public GitHub file): 693975f2-9139b258-8620-005056b3b989 = 0x693975f2 seconds
# (2025-12-10) - TSC bits - random - vmnic0 00:50:56:b3:b9:89 (VMware's OUI: a nested host). elatov's ESXi 5.0 HB
# state shows the same shape for a host (5091de63-2683f5a0-1ea1-e4115baf243b: 2012-10-31, MAC e4:11:5b:af:24:3b).

from __future__ import annotations

import hashlib
import zlib

# The lab's hosts "were installed" / made their datastores in this window (2023-09-12 .. 2025-11-28): real
# creation times, never a date in the future or an impossible one.
EPOCH_LOW, EPOCH_HIGH = 0x65000000, 0x69000000


def vmnic0_mac_tail(host: str) -> str:
    """The last three bytes of a simulated host's vmnic0 MAC (00:50:56:xx:xx:xx), stable per host name."""
    return f"{zlib.crc32(host.encode()) % 0xFFFFFF:06x}"


def esxi_uuid(host: str, *salt: str, not_before: int = EPOCH_LOW) -> str:
    """A stable UUID `host` would have made for the object named by `salt`, created after `not_before`."""
    h = hashlib.sha256("/".join((host, *salt)).encode()).digest()
    epoch = not_before + int.from_bytes(h[:4], "big") % max(1, EPOCH_HIGH - not_before)
    return f"{epoch:08x}-{h[4:8].hex()}-{h[8:10].hex()}-005056{vmnic0_mac_tail(host)}"
