"""Unit tests of the generated node files: enter script, faultlab-target scripts, ganesha.conf, sshd_config."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from faultlab.sim.kernel.node import BindMount, enter_script
from faultlab.sim.nodes import esxinode, sshd, targets
from faultlab.sim.topology import Layout

LAYOUT = Layout("fl0a1b", 5, 1, ("win01", "win02"))


def sh_syntax_ok(text: str, tmp_path: Path) -> bool:
    script = tmp_path / "script.sh"
    script.write_text(text)
    return subprocess.run(["sh", "-n", str(script)], capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("script", [targets.nfs_target_script(LAYOUT), targets.iscsi_target_script(LAYOUT)])
def test_target_scripts_are_valid_sh_with_all_verbs(script: str, tmp_path: Path) -> None:
    assert sh_syntax_ok(script, tmp_path)
    for verb in ("start", "stop", "status", "freeze", "thaw"):
        assert verb in script
    assert f"N={LAYOUT.state_dir}/" in script


def test_stop_counts_an_exited_daemon_its_parent_has_not_reaped_as_stopped(tmp_path: Path) -> None:
    """A daemon whose parent (pid 1 in the lab) has not yet reaped it is a zombie: `kill -0` still succeeds.
    stop returns once it has exited and status says dead (start-stop-daemon --stop waited for the reap)."""
    import sys
    import time

    (tmp_path / "run" / "log").mkdir(parents=True)
    # a parent that never waits: its child exits on SIGTERM and stays a zombie while the parent lives
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         "c = subprocess.Popen(['sleep', '60']); print(c.pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        (tmp_path / "run" / "target.pid").write_text(f"{child}\n")
        script = f'N={tmp_path}\nNAME=svc\n{targets._COMMON}\nbefore_stop() {{ :; }}\n"$@"'
        status = subprocess.run(["sh", "-c", script, "sh", "status"], capture_output=True, text=True, check=False)
        assert status.stdout.strip() == f"svc: active (running) pid {child}"
        t0 = time.monotonic()
        stop = subprocess.run(["sh", "-c", script, "sh", "stop"], capture_output=True, text=True, check=False)
        assert (stop.returncode, stop.stdout.strip(), stop.stderr) == (0, "svc: stopped", "")
        assert time.monotonic() - t0 < 5  # not the SIGKILL fallback: SIGTERM ended it
        assert Path(f"/proc/{child}/stat").read_text().split(") ")[1].startswith("Z")  # still unreaped
        status = subprocess.run(["sh", "-c", script, "sh", "status"], capture_output=True, text=True, check=False)
        assert (status.returncode, status.stdout.strip()) == (3, "svc: inactive (dead)")
        assert not (tmp_path / "run" / "target.pid").exists()
    finally:
        parent.kill()
        parent.wait()


def test_iscsi_script_removes_and_adds_lun_1() -> None:
    """The LUN verbs take a LUN number, LUN 1 (the lab's disk) by default; start presents LUN 1."""
    script = targets.iscsi_target_script(LAYOUT)
    assert '--op delete --mode logicalunit --tid 1 --lun "$n"' in script
    assert 'echo "${1:-1}"' in script and "\n  lun_add 1\n" in script
    assert f"LUNFILE={LAYOUT.lun_file}" in script and f"IQN={LAYOUT.iqn}" in script


def test_enter_script_mounts_run_last_and_execs(tmp_path: Path) -> None:
    node = dataclasses.replace(LAYOUT.esxi_nodes[0], node_dir=tmp_path / "esx01")
    text = enter_script(node, esxinode.esxi_mounts(LAYOUT, node))
    assert sh_syntax_ok(text, tmp_path)
    lines = text.splitlines()
    assert lines[-1] == 'exec "$@"'
    assert lines[-2] == f"mount --rbind {node.node_dir}/run /run"
    assert "hostname esx01" in text
    assert f"mount --bind {node.node_dir}/vmfs /vmfs" in text
    assert f"mount -o remount,bind,ro /vmfs/volumes/{LAYOUT.nfs_volume_uuid}" in text
    assert (node.node_dir / "vmfs" / "volumes" / "ds-nfs01").readlink().name == LAYOUT.nfs_volume_uuid


def test_enter_script_quotes_paths(tmp_path: Path) -> None:
    text = enter_script(LAYOUT.nfs_node, [BindMount(Path("/a b"), Path("/var/lib/nfs"))])
    assert "mount --bind '/a b' /var/lib/nfs" in text
    assert sh_syntax_ok(text, tmp_path)


def test_ganesha_conf_exports_the_datastore_v3_and_v4() -> None:
    conf = targets.ganesha_conf(LAYOUT)
    assert f"Bind_addr = {LAYOUT.nfs_node.ip};" in conf
    assert f"Path = {LAYOUT.export_dir};" in conf and "Pseudo = /ds-nfs01;" in conf
    assert "Squash = No_Root_Squash;" in conf and "Name = VFS;" in conf and "Protocols = 3, 4;" in conf
    assert conf.count("{") == conf.count("}")


def test_sshd_config_is_key_only_on_the_node_address() -> None:
    node = LAYOUT.esxi_nodes[0]
    conf = sshd.sshd_config(LAYOUT, node, {"FAULTLAB_ESXI_CONTROL": "/x.sock"})
    assert f"ListenAddress {node.ip}:22" in conf
    assert "PasswordAuthentication no" in conf and "PermitRootLogin prohibit-password" in conf
    assert f"AuthorizedKeysFile {LAYOUT.authorized_keys}" in conf
    assert f"SetEnv PATH={node.node_dir}/bin:" in conf and "FAULTLAB_ESXI_CONTROL=/x.sock" in conf
