"""lab/ssh.py without a server: quoting, results, host-key policies, which failures are retried."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from faultlab.lab import ssh
from faultlab.lab.credentials import SecretRef
from faultlab.lab.errors import AuthenticationError, CommandError, ConfigError, HostKeyError, LabError, UnreachableError
from faultlab.lab.inventory import parse_inventory
from faultlab.lab.ssh import CommandResult, SshClient, SshPool, fingerprint_of, is_transient, quote_command


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An ed25519 key made by ssh-keygen, and its fingerprint as ssh-keygen prints it."""
    path = tmp_path_factory.mktemp("keys") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True).stdout
    return path, out.split()[1]


def test_quoting_in_one_place() -> None:
    assert quote_command(["printf", "%s", "a b", "$HOME", "'"]) == "printf %s 'a b' '$HOME' ''\"'\"''"
    assert quote_command("echo $HOME | wc -c") == "echo $HOME | wc -c"  # a string is a shell line, as written
    with pytest.raises(ValueError, match="empty command"):
        quote_command([])


def test_command_result() -> None:
    ok = CommandResult(("true",), 0, "", "", 0.01, host="esx01")
    assert ok.succeeded and ok.check() is ok and ok.command == "true"
    bad = CommandResult(("ls", "/no such"), 2, "", "ls: /no such: No such file\n", 0.01, host="esx01")
    with pytest.raises(CommandError) as info:
        bad.check(user="root")
    assert str(info.value) == "root@esx01: command \"ls '/no such'\" exited 2: ls: /no such: No such file"
    assert info.value.exit_status == 2


def test_fingerprint_matches_ssh_keygen(keypair: tuple[Path, str]) -> None:
    path, printed = keypair
    key = paramiko.PKey.from_path(path)
    assert fingerprint_of(key) == printed


def test_policies(keypair: tuple[Path, str]) -> None:
    path, printed = keypair
    key = paramiko.PKey.from_path(path)
    client = paramiko.SSHClient()
    ssh._Pinned(printed).missing_host_key(client, "esx01", key)  # the pinned key passes
    with pytest.raises(ssh._HostKeyRefusedError, match="does not match the pinned fingerprint SHA256:"):
        ssh._Pinned("SHA256:" + "A" * 43).missing_host_key(client, "esx01", key)
    with pytest.raises(ssh._HostKeyRefusedError, match=r"unknown host key .*esx01 is not in /k/known_hosts"):
        ssh._RejectUnknown("/k/known_hosts").missing_host_key(client, "esx01", key)


@pytest.mark.parametrize(
    ("exc", "transient"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError("timed out"), True),
        (ConnectionResetError(104, "reset"), True),
        (EOFError(), True),
        (paramiko.SSHException("Error reading SSH protocol banner"), True),
        (paramiko.ssh_exception.NoValidConnectionsError({("10.0.0.1", 22): OSError(113, "No route")}), True),
        (paramiko.AuthenticationException("Authentication failed."), False),
        (paramiko.BadAuthenticationType("bad type", ["publickey"]), False),
        (ssh._HostKeyRefusedError("unknown host key"), False),
        (FileNotFoundError(2, "no such key"), False),
        (paramiko.SSHException("Incompatible ssh peer"), False),
    ],
)
def test_transient_classification(exc: BaseException, transient: bool) -> None:
    assert is_transient(exc) is transient


def _client(attempts: int = 3) -> SshClient:
    pw = SecretRef("FL_TEST_PW").resolve({"FL_TEST_PW": "s3cr3t-pw"})
    return SshClient("198.18.9.9", 2222, "qa", password=pw, fingerprint="SHA256:" + "A" * 43, attempts=attempts)


def test_transient_failures_are_retried_then_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def refuse(self: SshClient, pkey: object) -> paramiko.SSHClient:
        calls.append(1)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(SshClient, "_connect_once", refuse)
    with pytest.raises(UnreachableError) as info:
        _client(attempts=3).run("true")
    assert len(calls) == 3
    assert str(info.value).startswith("qa@198.18.9.9:2222: unreachable after 3 attempt(s)")


@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (paramiko.AuthenticationException("Authentication failed."), AuthenticationError, "authentication failed"),
        (ssh._HostKeyRefusedError("unknown host key"), HostKeyError, "host key refused: unknown host key"),
        (
            paramiko.BadHostKeyException("h", paramiko.RSAKey.generate(1024), paramiko.RSAKey.generate(1024)),
            HostKeyError,
            "host key refused",
        ),
    ],
)
def test_auth_and_host_key_failures_are_not_retried(
    monkeypatch: pytest.MonkeyPatch, raised: Exception, expected: type[LabError], text: str
) -> None:
    calls: list[int] = []

    def fail(self: SshClient, pkey: object) -> paramiko.SSHClient:
        calls.append(1)
        raise raised

    monkeypatch.setattr(SshClient, "_connect_once", fail)
    with pytest.raises(expected) as info:
        _client(attempts=5).run("true")
    assert len(calls) == 1
    assert str(info.value).startswith(f"qa@198.18.9.9:2222: {text}")


def test_a_transport_that_drops_is_reopened(monkeypatch: pytest.MonkeyPatch) -> None:
    """A channel that cannot be opened on a dead transport leads to one reconnect, not a failure."""
    opened: list[str] = []

    class Transport:
        def __init__(self, alive: bool) -> None:
            self.alive = alive

        def is_active(self) -> bool:
            return True  # looks alive until a channel is asked for

        def open_session(self, timeout: float) -> str:
            if not self.alive:
                raise EOFError("transport closed")
            return "channel"

    class Client:
        def __init__(self, alive: bool) -> None:
            self.transport = Transport(alive)

        def get_transport(self) -> Transport:
            return self.transport

        def close(self) -> None:
            opened.append("closed")

    clients = iter([Client(False), Client(True)])

    def connect_once(self: SshClient, pkey: object) -> Client:
        opened.append("connect")
        return next(clients)

    monkeypatch.setattr(SshClient, "_connect_once", connect_once)
    assert _client()._open_channel() == "channel"  # type: ignore[comparison-overlap]
    assert opened == ["connect", "closed", "connect"]


def test_constructor_demands_one_host_key_policy_and_a_credential(keypair: tuple[Path, str]) -> None:
    path, printed = keypair
    with pytest.raises(HostKeyError, match="exactly one host-key policy"):
        SshClient("esx01", key_file=path)
    with pytest.raises(HostKeyError, match="exactly one host-key policy"):
        SshClient("esx01", key_file=path, known_hosts="/k", fingerprint=printed)
    with pytest.raises(AuthenticationError, match="root@esx01: no credential"):
        SshClient("esx01", fingerprint=printed)


def test_secrets_do_not_leak_into_repr() -> None:
    client = _client()
    assert "s3cr3t-pw" not in repr(client) and "s3cr3t-pw" not in repr(vars(client))


def test_unreadable_key_is_an_auth_error_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "id_bad"
    bad.write_text("not a key")
    client = SshClient("esx01", key_file=bad, fingerprint="SHA256:" + "A" * 43)
    with pytest.raises(AuthenticationError, match=f"root@esx01: cannot load private key {bad}"):
        client.connect()


def test_from_inventory_access_and_missing_env_var(keypair: tuple[Path, str]) -> None:
    path, printed = keypair
    text = f"""\
version: 1
ssh: {{user: root, private_key: {path}, private_key_passphrase: "${{FL_TEST_UNSET_PASSPHRASE}}"}}
hosts:
  - {{name: esx01, address: 198.18.1.11, ssh: {{host_key_fingerprint: "{printed}"}}}}
"""
    inv = parse_inventory(text, "inventory.yaml")
    with pytest.raises(ConfigError) as info:
        SshClient.from_access(inv.ssh_for("esx01"))
    assert str(info.value) == (
        "inventory.yaml, line 2, key ssh.private_key_passphrase: "
        "environment variable FL_TEST_UNSET_PASSPHRASE is not set"
    )
    plain = parse_inventory(
        text.replace(', private_key_passphrase: "${FL_TEST_UNSET_PASSPHRASE}"', ""), "inventory.yaml"
    )
    client = SshClient.from_access(plain.ssh_for("esx01"), command_timeout=7)
    assert (client.host, client.user, client.fingerprint, client.command_timeout, client.name) == (
        "198.18.1.11",
        "root",
        printed,
        7,
        "esx01",
    )


def test_pool_keeps_one_client_per_node(keypair: tuple[Path, str]) -> None:
    path, printed = keypair
    text = f"""\
version: 1
ssh: {{user: root, private_key: {path}, host_key_fingerprint: "{printed}"}}
hosts: [{{name: esx01, address: 198.18.1.11}}, {{name: esx02, address: 198.18.1.12}}]
"""
    with SshPool(parse_inventory(text, "inventory.yaml"), command_timeout=9) as pool:
        first = pool.get("esx01")
        assert pool.get("esx01") is first and first.command_timeout == 9
        assert pool.get("esx02") is not first and pool.get("esx02").host == "198.18.1.12"
        with pytest.raises(ConfigError, match="no host or storage target named 'esx03'"):
            pool.get("esx03")
