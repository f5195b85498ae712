"""vSphere Cluster Services (vCLS) system VMs as `vim-cmd vmsvc/getallvms` lists them (a lab option, off by default).

The only real row found (tests/fixtures/esxcli/getallvms.14-vcls.txt, a real ESXi 9.0.0 host's transcript, GitHub
index id 49324877612):

    1698   vCLS-6b723342-8292-1962-f970-0422f48bc6ea   [] /var/run/crx/infra/vCLS-6b723342-.../vCLS-6b723342-....vmx
    crxSys1Guest   vmx-21   (empty annotation)

i.e. the "embedded" vCLS: no datastore (`[]`), the .vmx under /var/run/crx/infra/, guest id crxSys1Guest. Earlier
releases (7.0 U1 to 8.0 U2) put vCLS VMs on a shared datastore under another name and guest id; no real getallvms
row of that form was found [U], so both version profiles print the embedded form, which is strictly true only from
the release the sample comes from. A cluster runs at most three vCLS VMs, hence the option's limit.

vCLS VMs have no guest here: `power.getstate` says Powered on (they run while the cluster is healthy); their guest
heartbeat status is not known from a real host [U] and is answered `gray` (VMware Tools not reporting).
"""

from __future__ import annotations

import random
import uuid
from typing import Any

GUEST_ID = "crxSys1Guest"
HW_VERSION = "vmx-21"
MAX_VCLS = 3


def vcls_entries(count: int, host_name: str, seed: str) -> list[dict[str, Any]]:
    """`count` vCLS VMs, stable for one lab (`seed`): vmids in the high range a long-lived host hands out
    (the sample's 1698), names `vCLS-<uuid>`, files under /var/run/crx/infra/."""
    rng = random.Random(f"{seed}/{host_name}/vcls")
    out: list[dict[str, Any]] = []
    vmids = sorted(rng.sample(range(1000, 2000), count))
    for vmid in vmids:
        name = f"vCLS-{uuid.UUID(int=rng.getrandbits(128))}"
        out.append(
            {
                "vmid": vmid,
                "name": name,
                "file": f"[] /var/run/crx/infra/{name}/{name}.vmx",
                "guestId": GUEST_ID,
                "hwVersion": HW_VERSION,
                "annotation": "",
                "powerState": "poweredOn",
                "guestHeartbeatStatus": "gray",
                "vcls": True,
            }
        )
    return out
