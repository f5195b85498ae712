"""The ESXi release each version profile imitates: version, build, `vmware -v` / `-l`, `uname -a` (real lines).

8.0: `uname -a` and `vmware -v` of a real 8.0.2 host (GitHub index id 63180095976, an Italian work log:
`VMkernel localhost.home-life.hub 8.0.2 #1 SMP Release build-22380479 Sep  4 2023 15:00:49 x86_64 x86_64
x86_64 ESXi` / `VMware ESXi 8.0.2 build-22380479`). 7.0: a real 7.0 U3 host (index id 16054977139:
`vmware -vl` -> `VMware ESXi 7.0.3 build-22348816` / `VMware ESXi 7.0 Update 3`, and `uname -a` ->
`VMkernel esxi.esxi.localdomain 7.0.3 #1 SMP Release build-22348816 Aug 30 2023 04:36:58 x86_64 x86_64
x86_64 ESXi`). The 8.0.2 `vmware -l` line ("VMware ESXi 8.0 Update 2") follows the 7.0 form [I].
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Release:
    version: str  # "8.0.2"
    build: str  # "22380479"
    level: str  # `vmware -l`
    built: str  # the kernel's build date as uname prints it

    @property
    def vmware_v(self) -> str:
        return f"VMware ESXi {self.version} build-{self.build}"

    def uname_a(self, host: str) -> str:
        arch = "x86_64 x86_64 x86_64"
        return f"VMkernel {host} {self.version} #1 SMP Release build-{self.build} {self.built} {arch} ESXi"


RELEASES = {
    "8.0": Release("8.0.2", "22380479", "VMware ESXi 8.0 Update 2", "Sep  4 2023 15:00:49"),
    "7.0": Release("7.0.3", "22348816", "VMware ESXi 7.0 Update 3", "Aug 30 2023 04:36:58"),
}
