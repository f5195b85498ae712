"""The only root-namespace iptables rule a lab may make: let bridged node-to-node traffic pass FORWARD.

With br_netfilter loaded and a FORWARD policy other than ACCEPT (Docker hosts set DROP), traffic between
two nodes on the lab bridge would be dropped by the root namespace's firewall. Only then does `lab up`
insert one ACCEPT rule for its own bridge, tagged ``faultlab:<lab id>``, recorded in the manifest, and
removed by `down` (or by `down --all` from the tag). Faults never use these rules: they are injected with
iptables inside the storage nodes' own namespaces.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from faultlab.sim.kernel.shell import run

BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
TAG_RE = re.compile(r"--comment \"?faultlab:(fl[0-9a-f]{4})\"?")


def tag(lab_id: str) -> str:
    return f"faultlab:{lab_id}"


def forward_rule(lab_id: str, bridge: str) -> list[str]:
    """The rule (chain and match, without -I/-D) accepting traffic that stays on the lab bridge."""
    return ["FORWARD", "-i", bridge, "-o", bridge, "-m", "comment", "--comment", tag(lab_id), "-j", "ACCEPT"]


def forward_needs_rule(bridge_nf: str, forward_rules: str) -> bool:
    """Pure decision: bridged frames go through iptables (`bridge_nf` = "1") and FORWARD does not accept."""
    return bridge_nf.strip() == "1" and "-P FORWARD ACCEPT" not in forward_rules


def needs_forward_rule() -> bool:
    try:
        bridge_nf = BRIDGE_NF.read_text()
    except OSError:
        return False  # br_netfilter not loaded: bridged traffic bypasses iptables
    return forward_needs_rule(bridge_nf, run(["iptables", "-S", "FORWARD"]).stdout)


def add_rule(rule: list[str]) -> None:
    run(["iptables", "-I", *rule], context="lab bridge FORWARD rule")


def delete_rule(rule: list[str]) -> None:
    run(["iptables", "-D", *rule], check=False)


def tagged_rules(iptables_s: str) -> list[tuple[str, list[str]]]:
    """(lab id, rule) for every `iptables -S FORWARD` line tagged by a lab."""
    found = []
    for line in iptables_s.splitlines():
        m = TAG_RE.search(line)
        if m and line.startswith("-A "):
            found.append((m.group(1), shlex.split(line)[1:]))
    return found


def lab_rules_in_root_ns() -> list[tuple[str, list[str]]]:
    return tagged_rules(run(["iptables", "-S", "FORWARD"]).stdout)
