"""The SSH endpoint of every node: per-lab user key, per-node ed25519 host keys, sshd_config, known_hosts."""

from __future__ import annotations

from pathlib import Path

from faultlab.sim.kernel.node import node_dirs
from faultlab.sim.kernel.shell import run
from faultlab.sim.topology import Layout, NodeSpec

SSH_PORT = 22
NODE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def keygen(path: Path, comment: str) -> str:
    """Create an ed25519 key pair at `path` (no passphrase); returns the public key line."""
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], context="ssh-keygen")
    return path.with_name(path.name + ".pub").read_text(encoding="utf-8").strip()


def host_key(node: NodeSpec) -> Path:
    return node_dirs(node)["ssh"] / "ssh_host_ed25519_key"


def sshd_config(layout: Layout, node: NodeSpec, env: dict[str, str]) -> str:
    """Root login with the lab key only; the node's bin dir first on PATH; `env` set in every session."""
    setenv = " ".join(f"{k}={v}" for k, v in {"PATH": f"{node.node_dir / 'bin'}:{NODE_PATH}", **env}.items())
    return f"""# sshd of node {node.name} (lab {layout.lab_id})
ListenAddress {node.ip}:{SSH_PORT}
HostKey {host_key(node)}
PidFile {node_dirs(node)["run"] / "sshd.pid"}
AuthorizedKeysFile {layout.authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 50:30:100
MaxSessions 50
SetEnv {setenv}
Subsystem sftp internal-sftp
LogLevel INFO
"""


def write_sshd(layout: Layout, node: NodeSpec, env: dict[str, str]) -> tuple[Path, str]:
    """Generate the node's host key and sshd_config; returns (config path, known_hosts line)."""
    pub = keygen(host_key(node), f"{node.name}@{layout.lab_id}")
    conf = node_dirs(node)["ssh"] / "sshd_config"
    conf.write_text(sshd_config(layout, node, env), encoding="utf-8")
    keytype, blob = pub.split()[:2]
    return conf, f"{node.ip} {keytype} {blob}"


def write_user_key(layout: Layout) -> None:
    """The lab's user key (root login) and authorized_keys."""
    layout.ssh_dir.mkdir(parents=True, exist_ok=True)
    pub = keygen(layout.user_key, f"faultlab@{layout.lab_id}")
    layout.authorized_keys.write_text(pub + "\n", encoding="utf-8")
