"""ESXi's own small commands on a simulated host: `vmware -v/-l`, `uname`, `ps` (worlds) and `vm-support`.

Run as `python -m faultlab.sim.esxi.hostcmds <command> [args]` by the shims in the session's /bin
(faultlab.sim.esxishell). Their environment names the host's version profile, log folder, control socket
and the real /proc (hidden from the session).
"""

from __future__ import annotations

import io
import os
import socket
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from faultlab.sim.esxi import esxcli, vimcmd
from faultlab.sim.esxi.control import ControlError, call
from faultlab.sim.esxi.release import RELEASES, Release


def _release() -> Release:
    return RELEASES.get(os.environ.get("FAULTLAB_ESXI_VERSION", "8.0"), RELEASES["8.0"])


def vmware(args: list[str]) -> tuple[int, str]:
    """`vmware -v` (`VMware ESXi 8.0.2 build-22380479`), `-l` (`VMware ESXi 8.0 Update 2`), `-vl` both."""
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-"))
    if not flags or set(flags) - {"v", "l"}:
        return 1, "Usage: vmware [-v] [-l]\n"  # [U] the real usage text was not found
    out = []
    if "v" in flags:
        out.append(_release().vmware_v)
    if "l" in flags:
        out.append(_release().level)
    return 0, "\n".join(out) + "\n"


def uname(args: list[str]) -> tuple[int, str]:
    """`uname` prints `VMkernel` (a real host's answer, kept in a public test mock: GitHub index id 5659234109);
    `-a` the real line of the profile's build (release.py); -s -n -r -v -m -o the parts of that line."""
    rel = _release()
    host = socket.gethostname()
    parts = {
        "s": "VMkernel",
        "n": host,
        "r": rel.version,
        "v": f"#1 SMP Release build-{rel.build} {rel.built}",
        "m": "x86_64",
        "o": "ESXi",
    }
    flags = "".join(a.lstrip("-") for a in args if a.startswith("-")) or "s"
    if "a" in flags:
        return 0, rel.uname_a(host) + "\n"
    return 0, " ".join(parts[f] for f in "snrvmo" if f in flags) + "\n"


def _processes(proc: Path) -> list[tuple[int, str, str]]:
    """(pid, name, command line) of the processes in this node's network namespace (the node's worlds)."""
    try:
        mine = os.readlink(proc / "self" / "ns" / "net")
    except OSError:
        return []
    out = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "net") != mine:
                continue
            name = (entry / "comm").read_text().strip()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue  # gone meanwhile
        out.append((int(entry.name), name, cmdline))
    return sorted(out)


def ps(args: list[str]) -> tuple[int, str]:
    """ESXi's `ps`: one line per world, `WID CID World Name`, and with -c the command line. The column layout
    of a real `ps -c` was not found [U]; the harness's dead-man timer reads the CID as the second field (the
    pid `$!` gave), which is what ESXi scripts do too (`ps -c | awk ...`, GitHub index id 5235165182). Here a
    world is a process of the node, its WID and CID both the Linux pid."""
    proc = Path(os.environ.get("FAULTLAB_ESXI_PROC") or "/proc")
    with_cmd = any("c" in a.lstrip("-") for a in args if a.startswith("-"))
    rows = [("WID", "CID", "World Name", "Command")]
    rows += [(str(pid), str(pid), name, cmd) for pid, name, cmd in _processes(proc)]
    lines = []
    for wid, cid, name, cmd in rows:
        line = f"{wid:<8}{cid:<8}{name:<32}"
        lines.append((line + cmd) if with_cmd else line.rstrip())
    return 0, "\n".join(lines) + "\n"


# vm-support's commands/ folder: file name -> the command's answer (localcli_<namespace-with-dashes>.txt is a
# real bundle's naming: commands/localcli_storage-core-path-list.txt, reference/esxcli/SOURCES.md).
BUNDLE_COMMANDS: dict[str, Callable[[str], tuple[int, str]]] = {
    "localcli_storage-filesystem-list.txt": lambda c: esxcli.run(["storage", "filesystem", "list"], c),
    "localcli_storage-nfs-list.txt": lambda c: esxcli.run(["storage", "nfs", "list"], c),
    "localcli_storage-nfs41-list.txt": lambda c: esxcli.run(["storage", "nfs41", "list"], c),
    "localcli_storage-core-device-list.txt": lambda c: esxcli.run(["storage", "core", "device", "list"], c),
    "localcli_storage-core-path-list.txt": lambda c: esxcli.run(["storage", "core", "path", "list"], c),
    "localcli_system-settings-advanced-list.txt": lambda c: esxcli.run(["system", "settings", "advanced", "list"], c),
    "vim-cmd_vmsvc.getallvms.txt": lambda c: vimcmd.run(["vmsvc/getallvms"], c),  # [U] file name
}


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def vm_support(args: list[str]) -> tuple[int, str]:
    """Write a bundle laid out like a real one: esx-<host>-<date>--<time>-<pid>/ with var/run/log/* (the host's
    logs), vmfs/volumes/<uuid>/<vm>/vmware.log (each VM's log, read from the datastore) and commands/*.txt;
    `-w <dir>` picks the folder (default /var/tmp). The progress lines a real vm-support prints were not
    found [U]: it prints the bundle's path only."""
    workdir = Path(args[args.index("-w") + 1]) if "-w" in args and args.index("-w") + 1 < len(args) else None
    host = socket.gethostname()
    stamp = time.strftime("%Y-%m-%d--%H.%M", time.gmtime())
    top = f"esx-{host}-{stamp}-{os.getpid()}"
    target = (workdir or Path("/var/tmp")) / f"{top}.tgz"
    control = os.environ.get("FAULTLAB_ESXI_CONTROL", "")
    logs = Path(os.environ.get("FAULTLAB_ESXI_LOGS") or "/var/run/log")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as tar:
        for log in sorted(p for p in logs.glob("*") if p.is_file()):
            _add(tar, f"{top}/var/run/log/{log.name}", log.read_bytes())
        try:
            snap = call(control, "snapshot")
        except ControlError as exc:
            sys.stderr.write(f"vm-support: the host agent does not answer ({exc}); no VM logs or commands\n")
            snap = {"vms": []}
        for vm in snap["vms"]:
            path = Path(vm["vmx"]).parent / "vmware.log"
            try:
                data = path.read_bytes()
            except OSError as exc:  # an inaccessible datastore: a real bundle lacks the file too
                sys.stderr.write(f"vm-support: cannot read {path}: {exc.strerror}\n")
                continue
            _add(tar, f"{top}{path}", data)
        if snap["vms"] or "datastores" in snap:
            for name, run in BUNDLE_COMMANDS.items():
                _code, out = run(control)
                _add(tar, f"{top}/commands/{name}", out.encode())
    return 0, f"{target}\n"


def date(args: list[str]) -> tuple[int, str]:
    """busybox `date [-u] +FORMAT` for a FORMAT with %N (the shell's `date` sends only those here)."""
    fmt = next((a[1:] for a in args if a.startswith("+")), "%a %b %e %H:%M:%S %Z %Y")
    now = time.time_ns()
    secs, nanos = divmod(now, 1_000_000_000)
    stamp = time.gmtime(secs) if "-u" in args else time.localtime(secs)
    return 0, time.strftime(fmt.replace("%N", f"{nanos:09d}").replace("%s", str(secs)), stamp) + "\n"


COMMANDS = {"vmware": vmware, "uname": uname, "ps": ps, "vm-support": vm_support, "date": date}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        sys.stderr.write(f"usage: hostcmds {{{','.join(COMMANDS)}}} [args]\n")
        return 2
    code, out = COMMANDS[args[0]](args[1:])
    (sys.stdout if code == 0 else sys.stderr).write(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
