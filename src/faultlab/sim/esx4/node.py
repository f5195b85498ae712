"""An ESX 4.x node of the embedded lab: its filesystem view (/var/log, /var/core, the COS's /proc/meminfo), commands,
host config and process. The harness reaches it as a real ESX 4 host: SSH into the Service Console."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faultlab.sim.esx4.lines import meminfo
from faultlab.sim.kernel.node import BindMount, node_dirs
from faultlab.sim.nodes import esxinode
from faultlab.sim.topology import Layout, NodeSpec

HOST_MODULE = "faultlab.sim.esx4.host"
VAR_CORE = Path("/var/core")
LOG_DIR = "/var/log"  # the COS's syslog directory (KB 308590: /var/log/vmksummary; vmkernel, messages beside it)
COMMANDS = ("vmware", "esxcfg-nas", "esxcfg-scsidevs", "vim-cmd", "vmware-cmd", "vm-support")
# The fast profile: the 30-minute heartbeat timeout in 30 x 0.2 s (polled as often), vmksummary every 2 s, reboot
# after 4 s, a real process's growth counted 64 times (a 10 MB leak stands for 640 MB of COS memory).
FAST_COS: dict[str, float] = {
    "minute_s": 0.2,
    "poll_s": 0.2,  # one tick per heartbeat minute: the t=29 and t=30 alerts land on different ticks
    "vmksummary_s": 2.0,
    "reboot_s": 4.0,
    "growth_scale": 64.0,
}


def cos_dir(node: NodeSpec) -> Path:
    return node.node_dir / "cos"


def esx4_mounts(layout: Layout, node: NodeSpec) -> list[BindMount]:
    """The ESXi mounts (/vmfs) plus the COS's own /var/log, /var/core and /proc/meminfo (the model's file)."""
    cos = cos_dir(node)
    for sub in ("varlog", "core"):
        (cos / sub).mkdir(parents=True, exist_ok=True)
    # /root cannot be the node's own (the lab's python may live under it): the dumps go to /var/core, KB 308590's
    # other place. The mount point is made in the root filesystem once, empty, like /vmfs.
    VAR_CORE.mkdir(mode=0o755, exist_ok=True)
    mi = cos / "meminfo"
    if not mi.exists():
        mi.write_text(meminfo(799732, 799732, 554168, 554168), encoding="ascii")
    return [
        *esxinode.esxi_mounts(layout, node),
        BindMount(cos / "varlog", Path(LOG_DIR)),
        BindMount(cos / "core", VAR_CORE),
        BindMount(mi, Path("/proc/meminfo")),
    ]


def write_wrappers(node: NodeSpec) -> None:
    for command in COMMANDS:
        path = node_dirs(node)["bin"] / command
        path.write_text(
            "#!/bin/sh\n"
            f"# {command} of simulated ESX 4 host {node.name}: answered by the host process.\n"
            f'export FAULTLAB_ESXI_CONTROL="${{FAULTLAB_ESXI_CONTROL:-{esxinode.control_socket(node)}}}"\n'
            f'exec {sys.executable} -m faultlab.sim.esx4.commands {command} "$@"\n',
            encoding="utf-8",
        )
        path.chmod(0o755)


def write_config(layout: Layout, node: NodeSpec, settings: dict[str, int | str], cos: dict[str, float]) -> Path:
    cfg: dict[str, Any] = dict(esxinode.host_config(layout, node, "4.1", settings))
    cfg["log_dir"] = str(cos_dir(node) / "varlog")
    cfg["meminfo_file"] = str(cos_dir(node) / "meminfo")
    cfg["core_dir"] = str(cos_dir(node) / "core")
    cfg["cos"] = cos
    path = node.node_dir / "host.json"
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def host_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", HOST_MODULE, "--config", str(config_path)]


def split_settings(
    settings: dict[str, int | str], timing: str = "fast"
) -> tuple[dict[str, int | str], dict[str, float]]:
    """Advanced options apart from the lab-only COS knobs (`cos.mem_total_kb=...`, faultlab.sim.esx4.host.CosKnobs),
    which start from the fast profile (timing "real": the host's own values, CosKnobs' defaults)."""
    cos = dict(FAST_COS) if timing == "fast" else {}
    rest: dict[str, int | str] = {}
    for key, value in settings.items():
        if key.startswith("cos."):
            cos[key[4:]] = float(value)
        else:
            rest[key] = value
    return rest, cos
