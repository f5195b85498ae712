"""lab/ssh.py against a real OpenSSH server on 127.0.0.1 (root: sshd needs it to switch users)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from faultlab.lab.errors import CommandTimeoutError, HostKeyError, RemoteFileError
from faultlab.lab.ssh import SshClient
from tests.lab.conftest import wait_for

pytestmark = pytest.mark.lab

SSHD = Path("/usr/sbin/sshd")


@dataclass(frozen=True)
class Server:
    port: int
    user_key: Path
    known_hosts: Path
    fingerprint: str
    other_fingerprint: str
    tmp: Path
    pid: int


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)


def _fingerprint(pub: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(pub)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for_banner(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.05)  # retry interval of the wait loop above (bounded by the deadline)
    raise RuntimeError("sshd did not answer within 10 s")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if os.geteuid() != 0 or not SSHD.exists():
        pytest.skip("needs root and /usr/sbin/sshd (run: sudo .venv/bin/pytest -m lab tests/lab/test_ssh_real.py)")
    tmp = tmp_path_factory.mktemp("sshd")
    host_key, other_key, user_key = tmp / "host_key", tmp / "other_key", tmp / "id_ed25519"
    for k in (host_key, other_key, user_key):
        _keygen(k)
    (tmp / "authorized_keys").write_text(user_key.with_suffix(".pub").read_text())
    port = _free_port()
    pub = host_key.with_suffix(".pub").read_text().split()
    known = tmp / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    config = tmp / "sshd_config"
    config.write_text(
        f"""ListenAddress 127.0.0.1:{port}
HostKey {host_key}
PidFile {tmp / "sshd.pid"}
AuthorizedKeysFile {tmp / "authorized_keys"}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
"""
    )
    proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    try:
        _wait_for_banner(port, proc)
        yield Server(
            port,
            user_key,
            known,
            _fingerprint(host_key.with_suffix(".pub")),
            _fingerprint(other_key.with_suffix(".pub")),
            tmp,
            proc.pid,
        )
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def client(server: Server) -> Iterator[SshClient]:
    with SshClient("127.0.0.1", server.port, "root", server.user_key, known_hosts=server.known_hosts) as c:
        yield c


def test_run_command_exit_status_and_output(client: SshClient) -> None:
    res = client.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (res.exit_status, res.stdout, res.stderr) == (3, "out\n", "err\n")
    assert res.argv == ("sh", "-c", "echo out; echo err >&2; exit 3")
    assert res.duration > 0
    assert client.run("true").succeeded


def test_awkward_arguments_arrive_verbatim(client: SshClient) -> None:
    args = ["a b", "$HOME", "'", '"', "x;y", "*", ""]
    res = client.run(["printf", "[%s]\\n", *args], check=True)
    assert res.stdout.splitlines() == [f"[{a}]" for a in args]


def test_string_is_a_shell_line(client: SshClient) -> None:
    assert client.run("echo $((6 * 7))").stdout == "42\n"


def test_check_raises_with_status(client: SshClient) -> None:
    from faultlab.lab.errors import CommandError

    with pytest.raises(CommandError, match=r"exited 5: nope") as info:
        client.run("echo nope >&2; exit 5", check=True)
    assert info.value.exit_status == 5
    assert "root@127.0.0.1" in str(info.value)


def test_timeout_then_client_still_usable(client: SshClient) -> None:
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match=r"did not finish within 0\.5 s") as info:
        client.run("echo partial; sleep 10", timeout=0.5)
    assert time.monotonic() - started < 3
    assert info.value.stdout == "partial\n"
    assert client.run("echo again").stdout == "again\n"


def test_large_output_and_stdin(client: SshClient) -> None:
    res = client.run("head -c 3000000 /dev/zero | tr '\\0' x; echo; echo done >&2")
    assert len(res.stdout) == 3_000_001 and res.stderr == "done\n"
    assert client.run(["cat"], stdin=b"fed in").stdout == "fed in"


def test_read_file_and_stat(client: SshClient, server: Server) -> None:
    f = server.tmp / "remote.log"
    f.write_bytes(b"line1\nline2\n\xff\n")
    assert client.read_file(str(f)) == b"line1\nline2\n\xff\n"
    assert client.read_file(str(f), offset=6) == b"line2\n\xff\n"
    assert client.read_file(str(f), offset=6, length=5) == b"line2"
    st = client.stat(str(f))
    assert st is not None and st.size == 14 and st.inode == f.stat().st_ino
    assert client.stat(str(server.tmp / "absent")) is None
    with pytest.raises(RemoteFileError) as info:
        client.read_file(str(server.tmp / "absent"))
    assert info.value.missing


def test_reconnects_after_the_transport_drops(client: SshClient) -> None:
    assert client.run("echo one").stdout == "one\n"
    assert client._client is not None
    transport = client._client.get_transport()
    assert transport is not None
    transport.close()  # as if the network dropped the connection
    assert client.run("echo two").stdout == "two\n"


def test_unknown_host_is_refused_by_default(server: Server) -> None:
    empty = server.tmp / "empty_known_hosts"
    empty.write_text("")
    c = SshClient("127.0.0.1", server.port, "root", server.user_key, known_hosts=empty, attempts=3)
    started = time.monotonic()
    with pytest.raises(HostKeyError, match=r"root@127\.0\.0\.1:\d+: host key refused: unknown host key SHA256:"):
        c.run("true")
    assert time.monotonic() - started < 2  # not retried


def test_wrong_host_key_is_refused(server: Server) -> None:
    other = server.tmp / "other_key.pub"
    wrong = server.tmp / "wrong_known_hosts"
    kind, blob = other.read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{server.port} {kind} {blob}\n")
    c = SshClient("127.0.0.1", server.port, "root", server.user_key, known_hosts=wrong)
    with pytest.raises(HostKeyError, match="host key refused"):
        c.run("true")


def test_pinned_fingerprint(server: Server) -> None:
    with SshClient("127.0.0.1", server.port, "root", server.user_key, fingerprint=server.fingerprint) as good:
        assert good.run("echo pinned").stdout == "pinned\n"
    bad = SshClient("127.0.0.1", server.port, "root", server.user_key, fingerprint=server.other_fingerprint)
    with pytest.raises(
        HostKeyError, match=re.escape(f"does not match the pinned fingerprint {server.other_fingerprint}")
    ):
        bad.run("true")


def test_wrong_user_key_is_an_auth_error(server: Server) -> None:
    from faultlab.lab.errors import AuthenticationError

    stranger = server.tmp / "stranger"
    _keygen(stranger)
    c = SshClient("127.0.0.1", server.port, "root", stranger, known_hosts=server.known_hosts, attempts=3)
    with pytest.raises(AuthenticationError, match=r"root@127\.0\.0\.1:\d+: authentication failed"):
        c.run("true")


def test_killed_by_a_signal_has_no_exit_status(client: SshClient) -> None:
    res = client.run("kill -9 $$")
    assert res.exit_status == -1
    assert client.run("echo alive").stdout == "alive\n"  # the connection survived


def test_no_sftp_falls_back_to_tail(server: Server, client: SshClient) -> None:
    awkward = server.tmp / "dir with space"
    awkward.mkdir(exist_ok=True)
    odd = awkward / "it's $HOME.log"
    odd.write_bytes(b"0123456789")
    client._sftp_client = lambda: None  # type: ignore[method-assign]
    assert client.read_file(str(odd), offset=3, length=4) == b"3456"
    st = client.stat(str(odd))
    assert st is not None and (st.size, st.inode) == (10, odd.stat().st_ino)
    f = server.tmp / "cat.log"
    f.write_bytes(b"abcdef")
    assert client.read_file(str(f), offset=2, length=3) == b"cde"
    assert client.read_file(str(f), offset=1) == b"bcdef"
    with pytest.raises(RemoteFileError):
        client.read_file(str(server.tmp / "absent"))


def test_insecure_mode_connects_but_warns(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    with SshClient("127.0.0.1", server.port, "root", server.user_key, insecure_accept_any_host_key=True) as c:
        assert c.run("echo unchecked").stdout == "unchecked\n"
    assert f"INSECURE: accepting SSH host key {server.fingerprint}" in caplog.text


def _encrypted_key(server: Server, name: str, passphrase: str, fmt: list[str]) -> Path:
    """A user key encrypted with `passphrase`, authorized on the server (sshd rereads authorized_keys per login)."""
    key = server.tmp / name
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", *fmt, "-N", passphrase, "-f", str(key)], check=True)
        with (server.tmp / "authorized_keys").open("a") as fh:
            fh.write(key.with_suffix(".pub").read_text())
    return key


@pytest.mark.parametrize(
    "fmt", [["-t", "ed25519"], ["-t", "rsa", "-b", "2048", "-m", "PEM"]], ids=["openssh-ed25519", "pem-rsa"]
)
def test_passphrase_protected_key_through_the_inventory(
    server: Server, fmt: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 item 10: `private_key_passphrase: ${VAR}` opens an encrypted key and logs in to a real sshd; a wrong
    or missing passphrase is an AuthenticationError naming the key (never a TypeError, never the passphrase)."""
    from faultlab.lab.errors import AuthenticationError
    from faultlab.lab.inventory import parse_inventory

    secret = "correct horse $battery"
    key = _encrypted_key(server, f"enc_{fmt[1]}", secret, fmt)
    text = f"""version: 1
ssh: {{user: root, port: {server.port}, private_key: {key}, known_hosts: {server.known_hosts},
      private_key_passphrase: "${{FL_TEST_KEY_PASS}}"}}
hosts: [{{name: h1, address: 127.0.0.1}}]
"""
    inv = parse_inventory(text, "inventory.yaml")
    monkeypatch.setenv("FL_TEST_KEY_PASS", secret)
    with SshClient.from_access(inv.ssh_for("h1")) as c:
        assert c.run("echo unlocked").stdout == "unlocked\n"
    monkeypatch.setenv("FL_TEST_KEY_PASS", "not it")
    with pytest.raises(AuthenticationError, match=rf"cannot load private key {re.escape(str(key))}") as info:
        SshClient.from_access(inv.ssh_for("h1"), attempts=1).run("true")
    assert "not it" not in str(info.value)
    bare = parse_inventory(text.replace(',\n      private_key_passphrase: "${FL_TEST_KEY_PASS}"', ""), "inv.yaml")
    with pytest.raises(AuthenticationError, match=r"is encrypted: set ssh\.private_key_passphrase"):
        SshClient.from_access(bare.ssh_for("h1"), attempts=1).run("true")


def test_commands_share_one_long_running_shell(client: SshClient) -> None:
    """One shell per connection: the same $$ each time, yet `exit`, `cd` and variables stay each command's own."""
    first, home = client.run("echo $$").stdout, client.run("pwd").stdout
    assert client.run("cd /tmp; X=1; exit 4").exit_status == 4
    assert client.run('echo "[$X]"; pwd').stdout == f"[]\n{home}"
    assert client.run("echo $$").stdout == first
    assert client.run("echo 'unbalanced").exit_status != 0  # a command that does not parse fails on its own
    assert client.run("printf 'no newline'").stdout == "no newline"
    assert client.run("echo $$").stdout == first


def test_a_second_thread_gets_a_session_of_its_own(client: SshClient, server: Server) -> None:
    import threading

    client.run("true")
    seen: list[str] = []
    began = server.tmp / "slow-began"
    slow_line = f"touch {shlex.quote(str(began))}; sleep 0.5; echo slow"
    slow = threading.Thread(target=lambda: seen.append(client.run(slow_line).stdout))
    slow.start()
    wait_for("the slow command to hold the shell", began.exists, 10, 0.01)
    started = time.monotonic()
    assert client.run("echo quick").stdout == "quick\n"
    assert time.monotonic() - started < 0.45  # did not wait for the shell
    slow.join()
    assert seen == ["slow\n"]


def test_read_slices_matches_stat_and_ranged_reads(client: SshClient, server: Server) -> None:
    a, b = server.tmp / "a.log", server.tmp / "it's b.log"
    a.write_bytes(b"0123456789\n\xff\x00end")
    b.write_bytes(b"")
    reads = [
        (str(a), 0, 4),
        (str(a), 5, None),
        (str(b), 0, None),
        (str(server.tmp / "absent"), 0, None),
        (str(a), 99, None),
    ]
    got = client.read_slices(reads)
    assert [s.data for s in got] == [b"0123", b"56789\n\xff\x00end", b"", b"", b""]
    assert got[0].stat == client.stat(str(a)) and got[0].stat is not None and got[0].stat.inode == a.stat().st_ino
    assert got[2].stat is not None and got[2].stat.size == 0 and got[3].stat is None


def test_an_interrupted_command_leaves_nothing_for_the_next(client: SshClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while a command runs in the shell: the next command (the heal) gets a fresh shell, not the rest."""
    from types import SimpleNamespace

    from faultlab.lab import ssh

    client.run("true")

    def interrupted(*args: object) -> object:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(ssh, "select", SimpleNamespace(select=interrupted))  # this module's select only
        with pytest.raises(KeyboardInterrupt):
            client.run("sleep 0.3; echo stale; echo stale >&2")
    res = client.run("sleep 0.5; echo fresh")
    assert (res.stdout, res.stderr, res.exit_status) == ("fresh\n", "", 0)
