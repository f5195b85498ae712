"""The lab's simulated vCenter: build its launcher, start it in the `vc` node with the bridge, stop them by pid."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from faultlab.sim.errors import EmbeddedLabError
from faultlab.sim.manifest import Manifest
from faultlab.sim.nodes import esxinode
from faultlab.sim.topology import Layout
from faultlab.sim.vcenter import (
    PASSWORD_ENV,
    BridgeHandle,
    VcenterHandle,
    ensure_binary,
    new_password,
    spec_from_inventory,
    start,
    start_bridge,
    stop_pid,
)
from faultlab.sim.vcenter.build import BINARY_NAME, default_cache_root, source_key

BUILD_NOTICE = "building the simulated vCenter (first time only)..."
VCSIM = "vcsim"
BRIDGE = "vc-bridge"


def binary_cached() -> bool:
    """Whether the launcher for the current source is already built (no Go toolchain: False, the build says why)."""
    go = shutil.which("go") or "/usr/bin/go"
    try:
        return (default_cache_root() / "vcsim" / source_key(go) / BINARY_NAME).exists()
    except OSError:
        return False


def prepare_binary() -> None:
    """Build the launcher if needed, saying so on stderr first: a cold build takes about a minute."""
    if not binary_cached():
        print(BUILD_NOTICE, file=sys.stderr, flush=True)
    ensure_binary()


def start_vcenter(manifest: Manifest, inventory: dict[str, Any]) -> VcenterHandle:
    """Start the simulated vCenter in the `vc` node on port 443 with the lab's inventory; its pid goes into the
    manifest (it also dies with the node's namespace)."""
    layout = manifest.layout
    node = layout.vc_node
    spec = spec_from_inventory(inventory, address=node.ip, password=new_password())
    handle = start(layout.vcenter_dir, spec, netns=node.netns)
    manifest.record_pid(VCSIM, handle.pid)
    return handle


def start_host_bridge(manifest: Manifest, handle: VcenterHandle) -> BridgeHandle:
    """Start the process that forwards every ESXi host's state to the vCenter (in the root namespace: it only
    uses unix sockets under /run/faultlab); its pid goes into the manifest, `down` stops it."""
    layout = manifest.layout
    sockets = {n.name: esxinode.control_socket(n) for n in layout.esxi_nodes}
    bridge = start_bridge(layout.vcenter_dir, handle, sockets)
    manifest.record_pid(BRIDGE, bridge.pid)
    return bridge


def stop_recorded(manifest: Manifest) -> list[str]:
    """Stop the manifest's recorded processes that still run (bridge first: it pushes to the vCenter)."""
    live = manifest.live_pids()
    order = sorted(live, key=lambda name: name != BRIDGE)
    for name in order:
        stop_pid(live[name])
    return order


def password_file(layout: Layout) -> Path:
    return layout.vcenter_dir / "password"


def vcenter_env_of(layout: Layout) -> dict[str, str]:
    """{FAULTLAB_VC_PASSWORD: the password}: what the inventory's `${FAULTLAB_VC_PASSWORD}` needs. Never log it."""
    path = password_file(layout)
    if not layout.vcenter or not path.is_file():
        raise EmbeddedLabError(f"lab {layout.lab_id} has no simulated vCenter (made with --no-vcenter?)")
    return {PASSWORD_ENV: path.read_text(encoding="utf-8").strip()}
