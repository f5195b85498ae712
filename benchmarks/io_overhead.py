"""Benchmark: what the simulated host's real I/O costs (libnfs and libiscsi through ctypes) against the network.

Brings up an embedded lab (1 host, 1 VM, no vCenter), then, inside the ESXi host's network namespace, times the
operations the host's state machines do (NFS getattr heartbeat, guest write + fsync, hostd .vmx read, iSCSI TEST
UNIT READY and the VMFS heartbeat's WRITE(16) FUA), each against a bare TCP connect to the same server measured in
the same run: `x_tcp_rtt` is the operation's median over one kernel round trip, so the figure says what the
bindings and the protocol add whatever the machine's speed. The lab is torn down afterwards (also on Ctrl-C).
Needs root, like `faultlab lab up`.

    sudo .venv/bin/python benchmarks/io_overhead.py [-n 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from faultlab.lab.inventory import load_inventory
from faultlab.sim.lab import EmbeddedLab


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500, help="operations per figure")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("io_overhead: needs root (network namespaces): sudo .venv/bin/python benchmarks/io_overhead.py")
        return 2
    with EmbeddedLab.up(hosts=1, vms=1, vcenter=False) as lab:
        inventory = load_inventory(lab.inventory_path)
        nfs = next(d for d in inventory.datastores if d.type == "nfs")
        vmfs = next(d for d in inventory.datastores if d.type == "vmfs")
        argv = [
            "ip", "netns", "exec", lab.node("esx01").netns, sys.executable, "-m", "faultlab.sim.esxi.bench",
            "-n", str(args.n), "--nfs", f"{nfs.remote_host}:{nfs.remote_path}",
            "--iscsi", f"{vmfs.portal}/{vmfs.iqn}/{vmfs.lun}",
        ]  # fmt: skip
        out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=300).stdout
    figures = json.loads(out)
    print(f"{'operation':<48} {'median ms':>10} {'p99 ms':>10} {'x tcp rtt':>10}")
    for protocol, ops in figures.items():
        for name, f in ops.items():
            ratio = f"{f['x_tcp_rtt']:.2f}" if "x_tcp_rtt" in f else "1.00"
            print(f"{protocol + ' ' + name:<48} {f['median_ms']:>10.3f} {f['p99_ms']:>10.3f} {ratio:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
