"""Kernel objects of a lab: network namespaces, the lab bridge, veth pairs, and the processes inside them."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from pathlib import Path

from faultlab.sim.kernel.shell import run
from faultlab.sim.topology import NodeSpec

LAB_NET_RE = re.compile(r"\b198\.18\.(\d{1,3})\.\d{1,3}/")


def used_subnets() -> set[int]:
    """Subnet numbers k of 198.18.k.0/24 already on an interface of the root namespace."""
    out = run(["ip", "-o", "-4", "addr", "show"]).stdout
    return {int(m.group(1)) for m in LAB_NET_RE.finditer(out)}


def list_netns() -> list[str]:
    """Names of the named network namespaces (/run/netns)."""
    return [line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()]


def list_links() -> list[str]:
    """Names of the links of the root namespace (without the @peer suffix)."""
    out = run(["ip", "-o", "link", "show"]).stdout
    return [line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines() if line.strip()]


def create_bridge(name: str, address_cidr: str) -> None:
    run(["ip", "link", "add", name, "type", "bridge"], context=f"bridge {name}")
    run(["ip", "addr", "add", address_cidr, "dev", name], context=f"bridge {name}")
    run(["ip", "link", "set", name, "up"], context=f"bridge {name}")


def create_node_netns(node: NodeSpec, bridge: str, prefix_len: int = 24) -> None:
    """Namespace `node.netns` with lo and eth0 (a veth whose other end, named like the namespace, is on the bridge).

    No default route: the lab is an isolated bridge, nodes reach each other and the root namespace only.
    """
    ctx = f"node {node.name}"
    ns = ["ip", "netns", "exec", node.netns]
    run(["ip", "netns", "add", node.netns], context=ctx)
    run([*ns, "ip", "link", "set", "lo", "up"], context=ctx)
    run(["ip", "link", "add", node.netns, "type", "veth", "peer", "name", node.peer_tmp], context=ctx)
    run(["ip", "link", "set", node.peer_tmp, "netns", node.netns], context=ctx)
    run(["ip", "link", "set", node.netns, "master", bridge, "up"], context=ctx)
    run([*ns, "ip", "link", "set", node.peer_tmp, "name", "eth0"], context=ctx)
    run([*ns, "ip", "addr", "add", f"{node.ip}/{prefix_len}", "dev", "eth0"], context=ctx)
    run([*ns, "ip", "link", "set", "eth0", "up"], context=ctx)


def netns_pids(netns: str) -> list[int]:
    """Pids of every process whose network namespace is `netns` (gone namespace: empty list)."""
    res = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in res.stdout.split()] if res.ok else []


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_netns_processes(names: list[str], grace: float = 0.3) -> int:
    """SIGCONT+SIGTERM every process in the namespaces `names`, SIGKILL what is left after `grace` s.

    All namespaces at once, so a lab's teardown waits one grace period, not one per node. Returns the count.
    """

    def pids() -> list[int]:
        return [pid for name in names for pid in netns_pids(name)]

    first = pids()
    for pid in first:
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)  # a frozen (SIGSTOPped) daemon must run to act on SIGTERM
    for sig in (signal.SIGKILL, None):
        deadline = time.monotonic() + grace
        while (left := pids()) and time.monotonic() < deadline:
            time.sleep(0.02)
        if sig is None or not left:
            break
        for pid in left:
            _signal(pid, sig)
        grace = 5.0  # SIGKILL cannot be refused: only wait for the kernel
    return len(first)


def delete_netns(netns: str) -> None:
    if Path("/run/netns", netns).exists():
        run(["ip", "netns", "del", netns], context=f"namespace {netns}")


def delete_link(name: str) -> None:
    if Path("/sys/class/net", name).exists():
        run(["ip", "link", "del", name], check=False)
