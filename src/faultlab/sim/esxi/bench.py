"""Measure the per-operation cost of the host's real I/O paths (libnfs, libiscsi via ctypes); prints JSON."""

# Usage: python -m faultlab.sim.esxi.bench --nfs 198.18.1.20:/ds-nfs01 --iscsi 198.18.1.30:3260/<iqn>/1 -n 200
# Each operation is also given as a ratio to a baseline measured in the same run against the same server: a bare
# TCP connect to its port (one network round trip done by the kernel), so the figure is what the bindings and
# the protocol add on top of the network, whatever the machine's speed.

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from collections.abc import Callable

from faultlab.sim.esxi.storage.iscsiclient import IscsiSession
from faultlab.sim.esxi.storage.nfsclient import NfsClient


def _timed(op: Callable[[], object], count: int) -> dict[str, float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        op()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 4),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 4),
    }


def tcp_connect(address: str, port: int, count: int) -> dict[str, float]:
    """The baseline: a TCP connect + close to the server (one round trip, no user-space protocol)."""

    def once() -> None:
        socket.create_connection((address, port), timeout=2).close()

    return _timed(once, count)


def with_ratios(ops: dict[str, dict[str, float]], baseline: dict[str, float]) -> dict[str, dict[str, float]]:
    for figures in ops.values():
        figures["x_tcp_rtt"] = round(figures["median_ms"] / max(baseline["median_ms"], 1e-6), 2)
    return {"tcp connect (baseline)": baseline, **ops}


def bench_nfs(target: str, count: int) -> dict[str, dict[str, float]]:
    server, export = target.split(":", 1)
    client = NfsClient(server, export, 1000)
    start = time.perf_counter()
    client.stat("/")
    mount_ms = (time.perf_counter() - start) * 1000
    sector = b"b" * 512
    out = {
        "mount": {"median_ms": round(mount_ms, 4), "p99_ms": round(mount_ms, 4)},
        "getattr (heartbeat)": _timed(lambda: client.stat("/"), count),
        "open+write 512B+fsync+close (guest I/O)": _timed(lambda: client.write("/.faultlab-bench", 0, sector), count),
        "open+read+close (hostd .vmx)": _timed(lambda: client.read("/.faultlab-bench"), count),
    }
    client.close()
    return with_ratios(out, tcp_connect(server, 2049, count))


def bench_iscsi(target: str, count: int) -> dict[str, dict[str, float]]:
    portal, iqn, lun = target.split("/", 2)
    session = IscsiSession("iqn.1998-01.com.vmware:faultlab-bench", portal, iqn, int(lun), 2)
    start = time.perf_counter()
    error = session.connect()
    if error:
        raise SystemExit(f"bench: iSCSI login to {target} failed: {error}")
    login_ms = (time.perf_counter() - start) * 1000
    block = b"h" * 512
    out = {
        "login": {"median_ms": round(login_ms, 4), "p99_ms": round(login_ms, 4)},
        "test unit ready": _timed(session.test_unit_ready, count),
        "write16 512B FUA (VMFS heartbeat)": _timed(lambda: session.write16(8, block), count),
    }
    session.close()
    address, _sep, port = portal.rpartition(":")
    return with_ratios(out, tcp_connect(address, int(port or 3260), count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faultlab.sim.esxi.bench", description=__doc__)
    parser.add_argument("--nfs", help="server:/export")
    parser.add_argument("--iscsi", help="portal/iqn/lun")
    parser.add_argument("-n", type=int, default=200)
    args = parser.parse_args(argv)
    result: dict[str, object] = {}
    if args.nfs:
        result["nfs"] = bench_nfs(args.nfs, args.n)
    if args.iscsi:
        result["iscsi"] = bench_iscsi(args.iscsi, args.n)
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
