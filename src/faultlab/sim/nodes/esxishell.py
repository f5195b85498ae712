"""ESXi's shell on a simulated host: root logs in to busybox `sh` with ESXi's commands and no /proc.

What an SSH session on an ESXi node sees (each session gets its own mount namespace, made by `esxi-shell`,
root's login shell in the node's /etc/passwd):

* /bin and /sbin (here: /usr/bin and /usr/sbin, which /bin and /sbin link to) hold only busybox applet links
  and ESXi's own commands: esxcli, localcli, vim-cmd, vmware, uname (VMkernel), ps (worlds), vm-support.
  On ESXi /bin/sh links to busybox too (`/bin/sh -> /usr/lib/vmware/busybox/bin/busybox`, a real 7.0 host's
  `ls -l`, GitHub index id 5235165182). No bash, no GNU coreutils.
* /proc is an empty directory: ESXi has none. Linux cannot remove it for good: the real /proc stays bound
  under the lab's state folder (<node>/esx/proc, reachable at /run/faultlab/...) where the `ps` command reads
  it, and a process started outside the session (the host's own) still has it.
* PATH=/bin:/sbin, HOME=/ (root's home on ESXi is /).
* An interactive login (a pty and no command, OpenSSH's condition for the motd) first prints ESXi's /etc/motd
  (MOTD), then the prompt, and no busybox banner (see session_script). `ssh host cmd` prints nothing extra.

The applet set (ESXI_APPLETS) is NOT a copy of a real ESXi `busybox --list`: no public copy of that list was
found [U]. It keeps the POSIX tools that public ESXi shell scripts use (ls, cat, awk, sed, grep, stat, tail,
head, date, sleep, kill, nohup...) and leaves out what would act on the machine running the lab (reboot,
poweroff, mount, ip, ifconfig...) or that ESXi is not known to ship (dpkg, rpm, httpd...). Debian's busybox
has no `nohup` applet: a two-line sh script stands in for it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from faultlab.sim.kernel.node import BindMount
from faultlab.sim.topology import NodeSpec

BUSYBOX = Path("/usr/bin/busybox")
ESXI_APPLETS = (
    "[", "[[", "ash", "awk", "basename", "bunzip2", "bzcat", "bzip2", "cat", "chgrp", "chmod", "chown", "clear",
    "cmp", "cp", "cpio", "cut", "date", "dd", "df", "diff", "dirname", "dnsdomainname", "du", "echo", "egrep",
    "env", "expr", "false", "fgrep", "find", "grep", "gunzip", "gzip", "head", "hexdump", "hostname", "kill",
    "less", "ln", "logger", "ls", "md5sum", "mkdir", "mkfifo", "mktemp", "more", "mv", "nc", "od", "printf",
    "pwd", "readlink", "realpath", "rm", "rmdir", "sed", "seq", "setsid", "sh", "sha1sum", "sha256sum",
    "sha512sum", "sleep", "sort", "stat", "stty", "sync", "tail", "tar", "tee", "test", "time", "timeout",
    "touch", "tr", "true", "tty", "uniq", "unzip", "usleep", "vi", "watch", "wc", "which", "xargs", "zcat",
)  # fmt: skip
# ESXi's commands, answered by the simulator (module run with the lab's Python).
ESXI_COMMANDS = {
    "esxcli": "faultlab.sim.esxi.commands.esxcli",
    "localcli": "faultlab.sim.esxi.commands.esxcli",  # localcli is esxcli without hostd: the same answers here
    "vim-cmd": "faultlab.sim.esxi.commands.vimcmd",
    "vmware": "faultlab.sim.esxi.commands.hostcmds",
    "uname": "faultlab.sim.esxi.commands.hostcmds",
    "ps": "faultlab.sim.esxi.commands.hostcmds",
    "vm-support": "faultlab.sim.esxi.commands.hostcmds",
}
# Debian's busybox is built without %N in `date` (it prints "%N"); the harness reads a host's clock with
# `date -u +%s.%N` and needs sub-second precision to order a guest reset after its reboot request. Whether
# ESXi's busybox has %N was not found [U]; the shell's `date` hands a %N format to the simulator.
DATE = """#!/bin/sh
# date: busybox date, except that a +FORMAT with %N (nanoseconds) is answered by the simulator.
case "$*" in *%N*) {python} date "$@" ;; esac
exec /bin/busybox date "$@"
"""
# ESXi's /etc/motd: the advanced setting Config.Etc.motd is "Contents of /etc/motd" with a long default (an 8.0
# host's setting table, GitHub index id 49019169916; govc prints its first line "The time and date of this login
# have been sent to the system logs.", id 9964150600). sshd prints it at an interactive SSH login, then the prompt
# follows on the next line (no blank line) in most transcripts. Texts verbatim from real logins, per profile:
# * 8.0 (8.0.2): the WARNING block and the "automation tools" paragraph. A host the author names ESXi 8.0U2
#   (index id 52627242049, 2023-10-10), 8.0 U3 (id 48871143850) and 8.0.3 build 24022510 (id 10661040538) all print
#   it; 9.0.0 prints it too (ids 30336000303, 49324877612). One 8.0U1 patch post (id 36907707693) shows the
#   "sysadmintools" paragraph, but its banner is copied unchanged from the author's 6.7 post (id 36951066330), so
#   which form 8.0 GA/U1 printed is not pinned down [U]; 8.0.2 is the version this profile imitates.
# * 7.0 (7.0.3): the WARNING block and the "sysadmintools" paragraph [I]. No transcript was found that shows a
#   7.0 U3 host's own login together with its version: the block is already printed by 6.7-era hosts (ids
#   2621391668 and 2744079182, a vCenter 6.7 lab, 2020; id 31203277122, 2020-01) and the author's 7.0.2 and 7.0U3g
#   patch posts (ids 37069744748, 37812107308) show it (a copied banner, weak); no 7.0 host was found with the
#   "automation tools" paragraph. Hosts before the WARNING block (6.0/6.5: id 81706785) are not profiled here.
MOTD = {
    "8.0": (
        "The time and date of this login have been sent to the system logs.\n"
        "\n"
        "WARNING:\n"
        "   All commands run on the ESXi shell are logged and may be included in\n"
        "   support bundles. Do not provide passwords directly on the command line.\n"
        "   Most tools can prompt for secrets or accept them from standard input.\n"
        "\n"
        "VMware offers powerful and supported automation tools. Please\n"
        "see https://developer.vmware.com for details.\n"
        "\n"
        "The ESXi Shell can be disabled by an administrative user. See the\n"
        "vSphere Security documentation for more information.\n"
    ),
    "7.0": (
        "The time and date of this login have been sent to the system logs.\n"
        "\n"
        "WARNING:\n"
        "   All commands run on the ESXi shell are logged and may be included in\n"
        "   support bundles. Do not provide passwords directly on the command line.\n"
        "   Most tools can prompt for secrets or accept them from standard input.\n"
        "\n"
        "VMware offers supported, powerful system administration tools.  Please\n"
        "see www.vmware.com/go/sysadmintools for details.\n"
        "\n"
        "The ESXi Shell can be disabled by an administrative user. See the\n"
        "vSphere Security documentation for more information.\n"
    ),
}
# Set by the login shell for an interactive session: the tty's descriptor it keeps while ash starts (shell_rc).
STDOUT_FD_VAR = "FAULTLAB_ESXI_TTY_FD"
NOHUP = (
    "#!/bin/sh\n# nohup: Debian's busybox lacks the applet; ignore SIGHUP, then run the command.\n"
    'trap "" HUP\nexec "$@"\n'
)


def esx_dir(node: NodeSpec) -> Path:
    return node.node_dir / "esx"


def login_shell(node: NodeSpec) -> Path:
    """root's login shell inside the node (the node's bin dir is /usr/local/sbin there)."""
    return Path("/usr/local/sbin/esxi-shell")


def masked_dirs() -> list[str]:
    """The system binary directories to cover in a session, /usr/bin last (mount itself lives there)."""
    dirs = {os.path.realpath(d) for d in ("/bin", "/sbin", "/usr/bin", "/usr/sbin")}
    return sorted(dirs, key=lambda d: (d == "/usr/bin", d))


def python_command(node: NodeSpec, module: str) -> str:
    """How a shim starts the lab's Python inside a session, where /usr/bin may be covered: through the hidden
    bind of the real /usr/bin when the interpreter lives there, with the lab's sys.path."""
    real = os.path.realpath(sys.executable)
    for d in masked_dirs():
        if real.startswith(d + "/"):
            hidden = esx_dir(node) / "sys" / d.strip("/").replace("/", "-") / os.path.basename(real)
            path = os.pathsep.join(p for p in sys.path if p)
            return f'PYTHONPATH="{path}" exec {hidden} -m {module}'
    return f"exec {sys.executable} -m {module}"


def spool_dir(control: Path) -> Path:
    """Where a session leaves its record for the host's auth/shell/vobd lines (faultlab.sim.esxi.sshsessions)."""
    return control.parent / "esxi-sessions"


def shell_rc(node: NodeSpec, control: Path) -> str:
    """$ENV of an interactive session: ESXi's prompt `[root@esx01:~] ` (real transcripts, e.g. reference/esxcli
    SOURCES `[root@esxi01:~]`; `~` at /, root's home), whose expansion appends the history's last line to the
    session's .hist file: the host logs each typed command in shell.log from it (ESXi's shell does it itself)."""
    spool = spool_dir(control)
    record = f"history 2>/dev/null | tail -n 1 >> {spool}/$$.hist"
    where = '$([ "$PWD" = / ] && echo "~" || echo "$PWD")'
    # the login started ash with stdout on /dev/null (no banner, see session_script): back to the tty
    restore = f'if [ -n "${STDOUT_FD_VAR}" ]; then unset {STDOUT_FD_VAR}; exec 1>&3 3>&-; fi\n'
    return f"{restore}PS1='$({record})[root@{node.name}:{where}] '\n"


def session_script(node: NodeSpec, control: Path) -> str:
    """`esxi-shell`: a private mount namespace per session (binary dirs covered, /proc empty), then busybox sh.
    An SSH session first leaves its record (client address and port, sshd's pid, tty, command) in the spool."""
    esx = esx_dir(node)
    bb = esx / "bin" / "busybox"
    spool = spool_dir(control)
    lines = [
        f"#!{bb} sh",
        f"# Login shell of simulated ESXi host {node.name}: see faultlab.sim.nodes.esxishell.",
        'if [ -z "$FAULTLAB_ESXI_SESSION" ]; then',
        "  export FAULTLAB_ESXI_SESSION=1",
        f'  if [ -n "$SSH_CONNECTION" ] && [ -d {spool} ]; then',
        f'    t=$({bb} tty 2>/dev/null); c=; [ "$1" = -c ] && c=$2',
        f'    printf \'%s\\n%s\\n%s\\n%s\' "$SSH_CONNECTION" "$PPID" "$t" "$c" > {spool}/.$$ &&'
        f" {bb} mv -f {spool}/.$$ {spool}/$$.open",
        "  fi",
        f'  exec {bb} unshare --mount --propagation private "$0" "$@"',
        "fi",
        "set -e",
        f"{bb} mount --rbind /proc {esx}/proc",
    ]
    for d in masked_dirs():
        hidden = esx / "sys" / d.strip("/").replace("/", "-")
        lines.append(f"{bb} mount --bind {d} {hidden}")
    lines.append(f"{bb} mount -t tmpfs -o size=4k,mode=0555 none /proc")
    lines.append(f"[ -e /etc/motd ] && {bb} mount --bind {esx}/motd /etc/motd")  # the session sees ESXi's motd
    for d in masked_dirs():
        lines.append(f"{bb} mount --bind {esx}/bin {d}")
    lines += [
        "set +e",
        f"export PATH=/bin:/sbin HOME=/ SHELL=/bin/sh FAULTLAB_ESXI_CONTROL={control}",
        "cd /",
        # not a login shell: the machine's /etc/profile (Debian's, calling `id`) is not ESXi's; $ENV sets the prompt
        "if [ $# -eq 0 ]; then",
        f"  export ENV={esx}/shrc",
        # An interactive login (a pty, no command): ESXi's sshd prints /etc/motd (PrintMotd; OpenSSH does it only
        # for a pty session without a command). sshd runs outside this session's mount namespace, so the login
        # shell prints it. Debian's busybox ash prints its "BusyBox v... built-in shell (ash)" banner on stdout as
        # soon as it turns interactive (setinteractive() in shell/ash.c, unless built FEATURE_SH_EXTRA_QUIET),
        # before it reads $ENV; ESXi's busybox prints none. So ash starts with stdout on /dev/null and the tty
        # kept on fd 3, and $ENV (shell_rc) moves the tty back to stdout and closes fd 3.
        "  if [ -t 0 ] && [ -t 1 ]; then",
        f"    {bb} cat {esx}/motd",
        f"    export {STDOUT_FD_VAR}=3",
        "    exec /bin/sh -i 3>&1 >/dev/null",
        "  fi",
        "  exec /bin/sh",
        "fi",
        'exec /bin/sh "$@"',
    ]
    return "\n".join(lines) + "\n"


def write_shell(node: NodeSpec, control: Path, version: str) -> list[BindMount]:
    """Create <node>/esx (busybox, applet links, ESXi commands, mount points), the login shell and the node's
    /etc/passwd; returns the bind mount giving the node that passwd."""
    esx = esx_dir(node)
    bindir = esx / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    (esx / "proc").mkdir(exist_ok=True)
    for d in masked_dirs():
        (esx / "sys" / d.strip("/").replace("/", "-")).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, bindir / "busybox")
    for applet in ESXI_APPLETS:
        (bindir / applet).symlink_to("busybox")
    (bindir / "nohup").write_text(NOHUP, encoding="utf-8")
    (bindir / "date").unlink(missing_ok=True)
    (bindir / "date").write_text(
        DATE.format(python=python_command(node, "faultlab.sim.esxi.commands.hostcmds")), "utf-8"
    )
    for command, module in ESXI_COMMANDS.items():
        name = f" {command}" if module.endswith("hostcmds") else ""  # hostcmds serves several commands
        (bindir / command).write_text(
            f"#!/bin/sh\n# {command} of simulated ESXi host {node.name}: answered by the simulator.\n"
            f'export FAULTLAB_ESXI_CONTROL="${{FAULTLAB_ESXI_CONTROL:-{control}}}" FAULTLAB_ESXI_PROC={esx}/proc '
            f"FAULTLAB_ESXI_VERSION={version} FAULTLAB_ESXI_LOGS={node.node_dir / 'run' / 'log'}\n"
            f'{python_command(node, module)}{name} "$@"\n',
            encoding="utf-8",
        )
    for path in bindir.iterdir():
        if not path.is_symlink():
            path.chmod(0o755)
    spool_dir(control).mkdir(parents=True, exist_ok=True)
    (esx / "shrc").write_text(shell_rc(node, control), encoding="utf-8")
    (esx / "motd").write_text(MOTD[version], encoding="utf-8")
    shell = node.node_dir / "bin" / "esxi-shell"
    shell.parent.mkdir(parents=True, exist_ok=True)
    shell.write_text(session_script(node, control), encoding="utf-8")
    shell.chmod(0o755)
    etc = node.node_dir / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(passwd_text(Path("/etc/passwd").read_text(encoding="utf-8"), node), encoding="utf-8")
    return [BindMount(etc / "passwd", Path("/etc/passwd"), read_only=True)]


def passwd_text(system: str, node: NodeSpec) -> str:
    """The machine's passwd (sshd needs its privilege-separation user) with root's gecos Administrator and
    home / as on ESXi [U: from memory of ESXi's passwd, no public copy checked], and the session shell."""
    root = f"root:x:0:0:Administrator:/:{login_shell(node)}"
    return "\n".join(root if line.startswith("root:") else line for line in system.splitlines()) + "\n"
