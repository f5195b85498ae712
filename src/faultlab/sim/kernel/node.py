"""A node's own filesystem view and how to run a command or start a daemon inside its namespaces.

Each daemon of a node runs as ``ip netns exec <ns> unshare --mount --uts ... <node>/enter CMD`` (its hostname
is the node name).
`enter` bind-mounts the node's own directories so that, inside the node, ``/run`` (so ``/var/run``: the
log dir, tgtd's control socket, rpcbind's socket, ganesha's pid file, sshd's privsep dir) is
``<node>/run``, ``/usr/local/sbin`` is ``<node>/bin`` (the node's commands on every shell's PATH), and on
an ESXi node ``/vmfs`` is ``<node>/vmfs``. ``/run/faultlab`` stays visible inside, so every absolute path
under the lab's state dir means the same file inside and outside the node. The mounts are private: the
root namespace sees none of them, and they vanish with the node's last process.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from faultlab.sim.kernel.shell import CommandResult, run
from faultlab.sim.topology import STATE_ROOT, NodeSpec


@dataclass(frozen=True, slots=True)
class BindMount:
    """`source` mounted on `target` inside the node (`target` as seen after the earlier mounts)."""

    source: Path
    target: Path
    read_only: bool = False


def node_dirs(node: NodeSpec) -> dict[str, Path]:
    d = node.node_dir
    return {
        "bin": d / "bin",
        "run": d / "run",
        "log": d / "run" / "log",
        "ssh": d / "ssh",
        "sshd_priv": d / "run" / "sshd",
        "run_faultlab": d / "run" / "faultlab",
        "out": d / "out",  # daemons' stdout/stderr: outside /var/run/log, which holds only the node's logs
    }


def enter_script(node: NodeSpec, extra: list[BindMount]) -> str:
    """The `enter` shell script of `node`: its bind mounts, then ``exec "$@"``."""
    d = node_dirs(node)
    lines = [
        "#!/bin/sh",
        f"# Enter node {node.name}'s filesystem view (run in a private mount namespace), then exec a command.",
        "set -e",
        f"hostname {node.name}",
    ]
    for m in [*extra, BindMount(d["bin"], Path("/usr/local/sbin"))]:
        lines.append(f"mount --bind {shlex.quote(str(m.source))} {shlex.quote(str(m.target))}")
        if m.read_only:
            lines.append(f"mount -o remount,bind,ro {shlex.quote(str(m.target))}")
    # /run last: first keep /run/faultlab reachable under the node's /run, then put that over /run.
    lines.append(f"mount --rbind {STATE_ROOT} {d['run_faultlab']}")
    lines.append(f"mount --rbind {d['run']} /run")
    lines.append('exec "$@"')
    return "\n".join(lines) + "\n"


def prepare_node_dir(node: NodeSpec, extra: list[BindMount]) -> None:
    """Create the node's directories and its `enter` script."""
    for path in node_dirs(node).values():
        path.mkdir(parents=True, exist_ok=True)
    enter = node.node_dir / "enter"
    enter.write_text(enter_script(node, extra), encoding="utf-8")
    enter.chmod(0o755)


def node_argv(node: NodeSpec, argv: list[str]) -> list[str]:
    """`argv` wrapped to run in the node's network namespace and filesystem view."""
    return [
        "ip", "netns", "exec", node.netns,
        "unshare", "--mount", "--uts", "--propagation", "private",
        str(node.node_dir / "enter"), *argv,
    ]  # fmt: skip


def run_in_node(node: NodeSpec, argv: list[str], *, check: bool = True, timeout: float = 60.0) -> CommandResult:
    """Run `argv` inside `node` and wait for it."""
    return run(node_argv(node, argv), check=check, timeout=timeout, context=f"node {node.name}")


def start_daemon(node: NodeSpec, name: str, argv: list[str], chdir: Path | None = None) -> Path:
    """Start `argv` detached inside `node` (start-stop-daemon, pid file <node>/run/<name>.pid); returns it.

    Output goes to <node>/out/<name>.out. Does not wait for readiness: callers probe the service.
    """
    pidfile = node_dirs(node)["run"] / f"{name}.pid"
    out = node_dirs(node)["out"] / f"{name}.out"
    ssd = [
        "start-stop-daemon", "--start", "--quiet", "--background", "--make-pidfile",
        "--pidfile", str(pidfile), "--output", str(out), "--chdir", str(chdir or node.node_dir),
        "--startas", argv[0], "--", *argv[1:],
    ]  # fmt: skip
    run_in_node(node, ssd)
    return pidfile
