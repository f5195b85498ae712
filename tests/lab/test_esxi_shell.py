"""Lab test: an SSH login to a simulated ESXi host lands in ESXi's shell, and every command the harness sends to
an ESXi host (lab/esxi.py, harness/cursors.py, the dead-man timer's ESXi branch, harness/recovery.py, the
runner's reachability and reboot commands) runs there through the harness's own code."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from faultlab.assertions.sources import discover
from faultlab.harness.cursors import measure_skew
from faultlab.harness.faults import deadman
from faultlab.harness.recovery import vm_heartbeat_green, vm_id
from faultlab.lab.errors import LabError
from faultlab.lab.esxi import EsxiHost, datastore_file
from faultlab.lab.inventory import load_inventory
from faultlab.lab.ssh import SshClient, SshPool, quote_command
from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.release import RELEASES
from faultlab.sim.kernel.node import node_dirs
from faultlab.sim.kernel.waits import wait_until
from faultlab.sim.lab import EmbeddedLab
from faultlab.sim.nodes.esxishell import ESXI_APPLETS, MOTD

pytestmark = [pytest.mark.lab, pytest.mark.destructive]


@pytest.fixture(scope="module")
def esx() -> Iterator[tuple[EmbeddedLab, EsxiHost, SshClient]]:
    # two vCLS system VMs (`[] /var/run/crx/...` rows) next to the scenario's win01, as a real cluster host lists them
    with EmbeddedLab.up(hosts=1, vms=1, vmfs_vms=0, vcenter=False, version="8.0", vcls_vms=2) as lab:
        inv = load_inventory(lab.inventory_path)
        pool = SshPool(inv)
        client = pool.get("esx01")
        try:
            yield lab, EsxiHost.of(inv, "esx01", client), client
        finally:
            pool.close()


def sh(client: SshClient, line: str) -> str:
    res = client.run(line)
    assert res.exit_status == 0, f"{line!r} exited {res.exit_status}: {res.stderr}"
    return res.stdout


@contextlib.contextmanager
def session_per_command(client: SshClient) -> Iterator[SshClient]:
    """The client sending each command as its own SSH exec request (`ssh host cmd`), as an engineer's scripts do;
    the harness's default is one long-running `exec sh` per connection."""
    client.persistent_shell = False
    try:
        yield client
    finally:
        client.persistent_shell = True


def test_login_is_busybox_sh_with_esxi_commands_and_no_proc(esx: tuple[EmbeddedLab, EsxiHost, SshClient]) -> None:
    _lab, _host, client = esx
    with session_per_command(client):  # the login shell itself, not the harness's `exec sh` inside it
        assert sh(client, "echo $0; echo $PATH; echo $HOME") == "/bin/sh\n/bin:/sbin\n/\n"
    assert sh(client, "echo $0; echo $PATH") == "sh\n/bin:/sbin\n"  # the harness's long-running `exec sh`
    assert "BusyBox" in client.run("sh --help").stderr  # busybox prints its banner on stderr
    assert client.run("command -v bash").exit_status != 0  # no bash, no GNU tools
    assert "GNU" not in client.run("ls --version").stdout + client.run("ls --version").stderr
    listing = set(sh(client, "ls /bin").split())
    assert set(ESXI_APPLETS) <= listing and {"esxcli", "localcli", "vim-cmd", "vmware", "ps", "vm-support"} <= listing
    assert listing <= set(ESXI_APPLETS) | {"busybox", "nohup", "esxcli", "localcli", "vim-cmd", "vmware", "uname",
                                           "ps", "vm-support"}  # fmt: skip
    assert sh(client, "ls -A /proc") == "" and client.run("test -d /proc/self").exit_status == 1
    rel = RELEASES["8.0"]
    assert sh(client, "uname") == "VMkernel\n"
    assert sh(client, "uname -a") == rel.uname_a("esx01") + "\n"
    assert sh(client, "vmware -v") == f"{rel.vmware_v}\n" and sh(client, "vmware -l") == f"{rel.level}\n"
    # ps -c: the session's own shell is a world whose CID is the pid `$$` names
    out = sh(client, "echo $$; ps -c | awk -v p=$$ '$2 == p'")
    pid, row = out.split("\n", 1)
    assert row.split()[:3] == [pid, pid, "sh"], out


def test_every_harness_command_runs_in_the_esxi_shell(esx: tuple[EmbeddedLab, EsxiHost, SshClient]) -> None:
    _lab, host, client = esx
    # lab/ssh.py: stat -c and the tail/head fallback of read_file
    log = f"{host.host.log_dir.rstrip('/')}/vmkernel.log"  # where the harness reads it (cursors.esxi_log_paths)
    st = client.stat(log)
    assert st is not None and st.size > 0
    assert client.stat("/var/run/log/nosuch.log") is None
    tail = quote_command(["tail", "-c", "+1", "--", log]) + " | head -c 40"
    assert client.run(f"{quote_command(['test', '-e', log])} || exit 66; {tail}").stdout_bytes == (
        client.read_file(log, 0, 40)
    )
    # harness/cursors.py: the clock to the nanosecond (`date -u +%s.%N`); plain busybox date for other formats
    skew = measure_skew(client, "esx01", samples=2)
    assert abs(skew.offset_s) < 0.5 and skew.uncertainty_s < 0.5
    assert re.fullmatch(r"\d{10}\n", sh(client, "date -u +%s"))
    # lab/esxi.py
    assert host.advanced_setting("Misc.APDTimeout") == 6
    host.set_advanced_setting("Misc.APDTimeout", 7)
    assert host.advanced_setting("/Misc/APDTimeout") == 7
    host.set_advanced_setting("Misc.APDTimeout", 6)
    names = [f.volume_name for f in host.filesystems()]
    assert names[0] == "ds-nfs01" and names[-2:] == ["BOOTBANK1", "BOOTBANK2"]
    assert [m.volume_name for m in host.nfs_mounts()] == ["ds-nfs01"]
    assert [d.id for d in host.devices()][:2] == ["mpx.vmhba4:C0:T0:L0", "mpx.vmhba0:C0:T0:L0"]
    # harness/faults/kinds/esxi_path_off.py: path list, then path set off / active by runtime name, as the kind
    # sends them (and its dead-man heal line)
    (iscsi,) = [p for p in host.paths() if p.fields.get("Transport") == "iscsi"]
    for state in ("off", "active"):
        argv = ["esxcli", "storage", "core", "path", "set", "--state", state, "-p", iscsi.runtime_name]
        assert client.run(argv).succeeded
        assert [p.state for p in host.paths() if p.name == iscsi.name] == [state]
    (vm,) = [v for v in host.vms() if not v.name.startswith("vCLS-")]
    assert vm.name == "win01" and host.power_state(vm.vmid) == "poweredOn"
    # harness/recovery.py and the runner
    assert vm_id(host, "win01") == vm.vmid
    probe = vm_heartbeat_green(host, client, "win01")
    assert probe.probe() is True, probe.detail
    assert client.run(["true"]).exit_status == 0
    assert client.run(["date", "-u"]).stdout.strip().endswith(time.strftime("%Y", time.gmtime()))
    res = client.run(["vim-cmd", "vmsvc/power.reboot", str(vm.vmid)])
    assert res.exit_status == 0 and res.stdout == "", res


def test_vcls_rows_are_read_and_never_taken_for_the_scenario_vm(esx: tuple[EmbeddedLab, EsxiHost, SshClient]) -> None:
    """The simulated getallvms lists vCLS VMs in the real layout; the harness reads every row (no odd lines),
    keeps their absolute crx paths, and finds the scenario's VM by name, never a vCLS one."""
    _lab, host, client = esx
    raw = sh(client, "vim-cmd vmsvc/getallvms")
    assert raw.count("[] /var/run/crx/infra/vCLS-") == 2 and "crxSys1Guest" in raw
    before = len(host.notes)
    vms = host.vms()
    assert host.notes[before:] == []  # every row read, nothing odd
    vcls = [v for v in vms if v.name.startswith("vCLS-")]
    assert len(vcls) == 2 and len(vms) == 3
    for v in vcls:
        assert v.file == f"[] /var/run/crx/infra/{v.name}/{v.name}.vmx" and v.guest_os == "crxSys1Guest"
        assert datastore_file(v.file) == f"/var/run/crx/infra/{v.name}/{v.name}.vmx"
        assert host.power_state(v.vmid) == "poweredOn"
    (win,) = [v for v in vms if v.file.startswith("[ds-nfs01] ")]
    assert vm_id(host, "win01") == win.vmid and win.vmid not in {v.vmid for v in vcls}
    probe = vm_heartbeat_green(host, client, "win01")  # asks win01's vmid, not a vCLS one (gray, no Tools)
    wait_until(lambda: probe.probe() is True, 20, "win01 heartbeat green after the reboot test", interval=0.5)
    with pytest.raises(LabError, match="no VM 'win02' registered"):
        vm_id(host, "win02")


def test_ssh_logins_leave_the_real_auth_shell_vobd_and_hostd_traces(
    esx: tuple[EmbeddedLab, EsxiHost, SshClient],
) -> None:
    """The harness's own commands and an engineer's interactive login, as a real host records them (audit C12)."""
    lab, _host, client = esx
    node = lab.node("esx01")
    logs = node_dirs(node)["log"]
    gateway = lab.layout.gateway_ip

    def text(name: str) -> str:
        return (logs / f"{name}.log").read_text()

    # The harness's connection: one exec request, its long-running `exec sh`, whose commands a real host does not
    # log one by one (sshd logs exec requests; shell.log only interactive input).
    assert client.run("echo shell-trace-probe").succeeded
    wait_until(lambda: "User 'root' running command 'exec sh'" in text("auth"), 10, "the harness's shell")
    assert "shell-trace-probe" not in text("auth") + text("shell")
    with session_per_command(client):  # `ssh host cmd`: one exec request, one line
        assert client.run("echo auth-trace-probe").succeeded
    wait_until(lambda: "User 'root' running command 'echo auth-trace-probe'" in text("auth"), 10, "the command line")
    assert re.search(rf"Connection from {gateway} port \d+\n", text("auth"))
    assert re.search(
        rf"Accepted publickey for root from {gateway} port \d+ ssh2: ED25519 SHA256:\S{{43}}\n", text("auth")
    )
    assert f"[vob.user.ssh.session.opened] SSH session was opened for 'root@{gateway}'." in text("vobd")
    assert re.search(
        r"Event \d+ : SSH session was opened for", text("hostd")
    ) and f"SSH session was opened for 'root@{gateway}'." in text("hostd")
    # an interactive login through the system's ssh client: ESXi's prompt, each typed command in shell.log
    login = subprocess.run(
        ["ssh", "-tt", "-i", str(lab.layout.user_key), "-o", f"UserKnownHostsFile={lab.layout.known_hosts}",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", f"root@{node.ip}"],
        input="cd /vmfs\ncd /\nvim-cmd vmsvc/getallvms > /dev/null\nexit\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert "[root@esx01:~] " in login.stdout and "[root@esx01:/vmfs] " in login.stdout, login.stdout
    wait_until(lambda: "Session closed for 'root' on /dev/char/pty/t" in text("auth"), 10, "the pty session's end")
    wait_until(lambda: text("auth").count("Disconnected from ") >= 1, 10, "the interactive connection's end")
    shell = [re.fullmatch(kinds.HEADERS[("shell", "8.0")], line) for line in text("shell").splitlines()]
    assert all(shell), text("shell")
    assert [m["body"] for m in shell if m] == [
        "Interactive shell session started",
        "[root]: cd /vmfs",
        "[root]: cd /",
        "[root]: vim-cmd vmsvc/getallvms > /dev/null",
    ]
    assert "Session opened for 'root' on /dev/char/pty/t" in text("auth")
    assert f"[vob.user.ssh.session.closed] SSH session was closed for 'root@{gateway}'." in text("vobd")
    templates = [re.compile(k.template) for k in kinds.KINDS.values() if k.log == "auth"]
    for line in text("auth").splitlines():  # every line in the real 8.0 prefix, every body a known real kind's
        head = re.fullmatch(kinds.HEADERS[("auth", "8.0")], line)
        assert head and any(t.fullmatch(head["body"]) for t in templates), line


def test_dead_man_timer_esxi_branch(esx: tuple[EmbeddedLab, EsxiHost, SshClient]) -> None:
    """The timer's match script takes its `ps -c` branch (no /proc/self), finds, cancels and fires timers."""
    _lab, _host, client = esx
    assert client.run("[ -d /proc/self ]").exit_status == 1
    pid = deadman.start_timer(client, "shell-a", 60, "false", node="esx01")
    assert deadman.timer_running(client, pid, "shell-a")
    assert not deadman.timer_running(client, pid, "shell-other")  # the pid is checked against the tag
    assert deadman.cancel_timer(client, pid, "shell-a")
    deadline = time.monotonic() + 5
    while deadman.timer_running(client, pid, "shell-a") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not deadman.timer_running(client, pid, "shell-a")
    deadman.start_timer(client, "shell-b", 1, "true", node="esx01")
    deadline = time.monotonic() + 10
    while not deadman.timer_fired(client, "shell-b") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert deadman.timer_fired(client, "shell-b")
    deadman.clear_marker(client, "shell-b")
    assert not deadman.timer_fired(client, "shell-b")


def test_esxcli_formatters_and_errors_over_ssh(esx: tuple[EmbeddedLab, EsxiHost, SshClient]) -> None:
    _lab, _host, client = esx
    csv = sh(client, "esxcli --formatter=csv storage nfs list").splitlines()
    assert csv[0].startswith("Accessible,") and all(line.endswith(",") for line in csv)
    assert (
        sh(client, "esxcli --formatter=keyvalue storage core device list").count("ScsiDevice.Size.integer=") == 3
    )  # CD-ROM, boot disk, LUN
    assert "<output xmlns=" in sh(client, "esxcli --formatter=xml storage filesystem list")
    res = client.run("esxcli storage bogus list")
    assert res.exit_status == 1 and res.stderr == "Error: Unknown command or namespace storage bogus list\n"
    assert sh(client, "localcli storage nfs list") == sh(client, "esxcli storage nfs list")


def test_vm_support_bundle_is_laid_out_like_a_real_one_and_triage_reads_it(
    esx: tuple[EmbeddedLab, EsxiHost, SshClient], tmp_path: Path
) -> None:
    _lab, _host, client = esx
    workdir = f"/tmp/faultlab-vmsupport-{tmp_path.name}"
    bundle = sh(client, f"mkdir -p {workdir} && vm-support -w {workdir}").strip()
    assert re.fullmatch(rf"{workdir}/esx-esx01-\d{{4}}-\d\d-\d\d--\d\d\.\d\d-\d+\.tgz", bundle), bundle
    try:
        with tarfile.open(bundle) as tar:
            names = tar.getnames()
        top = names[0].split("/")[0]
        assert f"{top}/var/run/log/vmkernel.log" in names and f"{top}/var/run/log/hostd.log" in names
        assert any(re.fullmatch(rf"{top}/vmfs/volumes/[^/]+/win01/vmware.log", n) for n in names), names
        assert f"{top}/commands/localcli_storage-nfs-list.txt" in names
        logs = discover(bundle)  # what `faultlab triage <bundle>` reads
        assert {Path(src.name).name for src in logs} >= {"vmkernel.log", "hostd.log", "vmware.log"}
    finally:
        client.run(["rm", "-rf", workdir])


# Last in the module: test_ssh_logins_leave_the_real_auth_shell_vobd_and_hostd_traces expects only its own
# lines in shell.log.
def login_client(lab: EmbeddedLab, name: str) -> paramiko.SSHClient:
    """An SSH client of our own (not the harness's), host key checked against the lab's known_hosts."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.layout.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        lab.node(name).ip, username="root", key_filename=str(lab.layout.user_key), allow_agent=False,
        look_for_keys=False, timeout=20,
    )  # fmt: skip
    return client


def read_until(chan: paramiko.Channel, text: str, timeout: float = 20) -> str:
    """What the channel sends (CR LF as LF) until `text` has arrived; fails after `timeout` seconds."""
    out = b""
    deadline = time.monotonic() + timeout
    while text not in out.decode(errors="replace").replace("\r\n", "\n"):
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} after {timeout} s: {out!r}"
        chan.settimeout(left)
        try:
            chunk = chan.recv(4096)
        except TimeoutError:
            chunk = b""
        assert chunk, f"no {text!r} (channel closed or {timeout} s passed): {out!r}"
        out += chunk
    return out.decode(errors="replace").replace("\r\n", "\n")


def interactive_login(lab: EmbeddedLab, name: str) -> tuple[str, str]:
    """An engineer's login (a pty, no command): what arrives up to the first prompt, and the answer to one typed
    command up to the next prompt."""
    client = login_client(lab, name)
    try:
        chan = client.invoke_shell(width=120)
        prompt = f"[root@{name}:~] "
        first = read_until(chan, prompt)
        # the shell's stdout is the tty again, fd 3 (kept while ash started) closed and its marker unset
        chan.send(b'echo typed-$((6 * 7)) "v=$FAULTLAB_ESXI_TTY_FD"; sh -c ": >&3" 2>/dev/null || echo fd3-closed\n')
        rest = read_until(chan, f"typed-42 v=\nfd3-closed\n{prompt}")
        chan.send(b"exit\n")
        return first[: first.index(prompt) + len(prompt)], rest
    finally:
        client.close()


def test_interactive_login_prints_esxi_motd_and_prompt_no_busybox_banner(
    esx: tuple[EmbeddedLab, EsxiHost, SshClient],
) -> None:
    """8.0: ESXi's /etc/motd, then the prompt; nothing from busybox. A command, with or without a pty, prints
    only its own output."""
    lab, _host, client = esx
    first, rest = interactive_login(lab, "esx01")
    assert first == MOTD["8.0"] + "[root@esx01:~] ", first
    assert "BusyBox" not in first + rest and "built-in shell" not in first + rest, rest
    assert sh(client, "cat /etc/motd") == MOTD["8.0"]  # the session's /etc/motd is ESXi's
    # `ssh host cmd` (a script, or the harness with its shell busy) and `ssh -tt host cmd`: no motd, no banner
    with session_per_command(client):
        assert sh(client, "echo $0; echo plain") == "/bin/sh\nplain\n"
    own = login_client(lab, "esx01")
    try:
        chan = own.get_transport().open_session()  # type: ignore[union-attr]
        chan.get_pty()
        chan.exec_command("echo with-pty")
        out = b""
        while chunk := chan.recv(4096):
            out += chunk
        assert out == b"with-pty\r\n" and chan.recv_exit_status() == 0, out
    finally:
        own.close()


def test_interactive_login_to_a_70_host_prints_the_70_motd() -> None:
    with EmbeddedLab.up(hosts=1, vms=1, vmfs_vms=0, vcenter=False, version="7.0", start_hosts=False) as lab:
        first, rest = interactive_login(lab, "esx01")
    assert first == MOTD["7.0"] + "[root@esx01:~] ", first
    assert "BusyBox" not in first + rest and "sysadmintools" in first
