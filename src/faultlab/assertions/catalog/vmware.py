"""vmware.log signatures: Tools heartbeat loss and guest CPU resets (WinBSOD MSR lines: builder.EventBuilder)."""

from __future__ import annotations

from faultlab.assertions.catalog.base import Sample, Signature, sig
from faultlab.assertions.lazyre import lazy_re

SIGNATURES: tuple[Signature, ...] = (
    sig("guest.tools_heartbeat.lost", r"^Tools: Tools heartbeat timeout\.", r"Tools heartbeat timeout",
        Sample("2016-01-01T10:00:00.000Z| vcpu-0| I120: Tools: Tools heartbeat timeout.",
               "reference/esxi-facts.md section 6 (boche.net 2016, ESXi 6.0, '| vcpu-0| I120: Tools: Tools "
               "heartbeat timeout.'; the post's date stands for its masked time)")),
    # the whole body: "CPU reset: soft" quoted inside another message is not a reset
    sig("guest.reset", r"^CPU reset: (?P<kind>soft|hard)(?: \(mode [^()]*\))?\s*$", r"CPU reset: (soft|hard)",
        Sample("2019-03-14T12:03:04.445Z| vcpu-0| I125: CPU reset: soft (mode Emulation)",
               "vmware/open-vm-tools issue #327 (ESXi 6.x vmware.log)")),
)  # fmt: skip

# WinBSOD: Synthetic MSR[0x40000100] 0xef ... (KB 392634): five lines make one guest.bsod
RE_MSR = lazy_re(r"WinBSOD: Synthetic MSR\[0x[0-9a-fA-F#Xx]{7}(?P<idx>[0-4])\] (?P<val>0x[0-9a-fA-F]+)")
MSR_PREFILTER = r"WinBSOD: Synthetic MSR"
