"""SSH to lab nodes (paramiko, the only module importing it): commands, file reads, strict host keys, retries."""

from __future__ import annotations

import base64
import errno
import hashlib
import logging
import secrets
import select
import shlex
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import paramiko
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from faultlab.lab.credentials import SecretValue
from faultlab.lab.errors import (
    AuthenticationError,
    CommandTimeoutError,
    HostKeyError,
    LabError,
    RemoteFileError,
    UnreachableError,
)
from faultlab.lab.inventory import Inventory, SshAccess
from faultlab.lab.result import CommandResult, FileStat, quote_command

if TYPE_CHECKING:
    from faultlab.lab.shellbatch import FileSlice

# CommandResult, FileStat and quote_command live in lab/result.py (no paramiko there) and are re-exported here.
__all__ = ["CommandResult", "FileStat", "SshClient", "SshPool", "fingerprint_of", "is_transient", "quote_command"]

log = logging.getLogger("faultlab.lab.ssh")
# paramiko logs a failed handshake (e.g. a port that does not speak SSH) with its traceback; without a handler of
# its own that reaches the user's terminal through logging's last resort. The failure itself is raised as a
# LabError naming host and user, so paramiko's own lines go only where the application sends its logs.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_CHUNK = 65536
_POLL = 0.05  # seconds between checks of a running command when no output arrives
_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


def fingerprint_of(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a public key, as `ssh-keygen -lf` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def _frame_end(out: bytearray, token: bytes, start: int = 0) -> tuple[int, int] | None:
    """Where the shell's frame "\\n<token> <status>\\n" starts in `out` (from `start`), and the status; None before
    it is complete."""
    at = out.find(b"\n" + token + b" ", start)
    if at < 0:
        return None
    tail = out[at + len(token) + 2 :]
    end = tail.find(b"\n")
    if end < 0:
        return None
    try:
        return at, int(tail[:end])
    except ValueError:
        return None


class _HostKeyRefusedError(paramiko.SSHException):
    """Raised by our policies; recognised so it is never retried."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, source: str) -> None:
        self.source = source

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _HostKeyRefusedError(
            f"unknown host key {fingerprint_of(key)} ({key.get_name()}): {hostname} is not in {self.source}"
        )


class _Pinned(paramiko.MissingHostKeyPolicy):
    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint.rstrip("=")

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        got = fingerprint_of(key)
        if got != self.fingerprint:
            raise _HostKeyRefusedError(f"host key {got} does not match the pinned fingerprint {self.fingerprint}")


class _AcceptAny(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        log.warning("INSECURE: accepting SSH host key %s of %s without checking it", fingerprint_of(key), hostname)


def is_transient(exc: BaseException) -> bool:
    """Worth another try: the network or the server's connection limit, never credentials or host keys."""
    if isinstance(exc, _HostKeyRefusedError | paramiko.BadHostKeyException | paramiko.AuthenticationException):
        return False
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | TimeoutError | ConnectionError | EOFError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    if isinstance(exc, paramiko.SSHException):
        text = str(exc).lower()
        return "banner" in text or "reset" in text or "closed" in text
    return False


class SshClient:
    """One SSH connection to one host, reopened when the transport drops. Use as a context manager or close()."""

    def __init__(
        self,
        host: str,
        port: int = 22,
        user: str = "root",
        key_file: str | Path | None = None,
        *,
        known_hosts: str | Path | None = None,
        fingerprint: str | None = None,
        insecure_accept_any_host_key: bool = False,
        password: SecretValue | None = None,
        key_passphrase: SecretValue | None = None,
        timeout: float = 10.0,
        command_timeout: float = 120.0,
        attempts: int = 3,
        name: str | None = None,
        persistent_shell: bool = True,
    ) -> None:
        self.host, self.port, self.user = host, port, user
        self.name = name or host
        self.key_file = Path(key_file) if key_file is not None else None
        self.known_hosts = Path(known_hosts) if known_hosts is not None else None
        self.fingerprint = fingerprint
        self.insecure = insecure_accept_any_host_key
        self._password = password
        self._passphrase = key_passphrase
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.attempts = attempts
        policies = sum([known_hosts is not None, fingerprint is not None, insecure_accept_any_host_key])
        if policies != 1:
            raise HostKeyError(
                "give exactly one host-key policy: known_hosts, fingerprint or insecure_accept_any_host_key=True",
                host=self._where,
                user=user,
            )
        if key_file is None and password is None:
            raise AuthenticationError("no credential: give key_file or password", host=self._where, user=user)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._lock = threading.Lock()
        # One long-running `sh` per connection runs the commands one after another (a session per command costs
        # a round trip, sshd's session setup and the login shell's start-up: 30-130 ms on the lab's nodes).
        self.persistent_shell = persistent_shell
        self._shell: paramiko.Channel | None = None
        self._shell_lock = threading.Lock()  # held while a command runs in the shell; others use their own session

    @classmethod
    def from_access(cls, access: SshAccess, *, command_timeout: float = 120.0, attempts: int = 3) -> SshClient:
        """A client for a host or storage target of the inventory (secrets resolved from the environment)."""
        return cls(
            access.address,
            access.port,
            access.user,
            access.private_key,
            known_hosts=access.known_hosts,
            fingerprint=access.host_key_fingerprint,
            insecure_accept_any_host_key=access.insecure_accept_any_host_key,
            password=access.password.resolve() if access.password else None,
            key_passphrase=access.private_key_passphrase.resolve() if access.private_key_passphrase else None,
            timeout=access.timeout,
            name=access.name,
            command_timeout=command_timeout,
            attempts=attempts,
        )

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 22 else self.host

    def __repr__(self) -> str:
        return f"SshClient({self.user}@{self._where}, name={self.name!r})"

    def __enter__(self) -> SshClient:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- connection -------------------------------------------------------------------------------------
    def _load_key(self) -> paramiko.PKey | None:
        if self.key_file is None:
            return None
        # PKey.from_path takes the passphrase as bytes (a str raises TypeError deep in `cryptography`).
        passphrase = self._passphrase.reveal().encode("utf-8") if self._passphrase else None
        try:
            return paramiko.PKey.from_path(self.key_file, passphrase)  # type: ignore[arg-type]  # stubs say str
        except (paramiko.PasswordRequiredException, TypeError) as exc:
            # paramiko 3.x raises PasswordRequiredException, `cryptography` (paramiko 4+) a TypeError.
            if passphrase is not None:
                raise AuthenticationError(
                    f"cannot load private key {self.key_file}: {exc}", host=self._where, user=self.user
                ) from None
            raise AuthenticationError(
                f"private key {self.key_file} is encrypted: set ssh.private_key_passphrase (${{VAR}})",
                host=self._where,
                user=self.user,
            ) from None
        except (OSError, paramiko.SSHException, ValueError) as exc:
            hint = " (wrong passphrase?)" if passphrase is not None else ""
            raise AuthenticationError(
                f"cannot load private key {self.key_file}{hint}: {exc}", host=self._where, user=self.user
            ) from None

    def _connect_once(self, pkey: paramiko.PKey | None) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.known_hosts is not None:
            try:
                client.get_host_keys().load(str(self.known_hosts))  # not load_host_keys: never written back
            except OSError as exc:
                raise HostKeyError(
                    f"cannot read known_hosts {self.known_hosts}: {exc}", host=self._where, user=self.user
                ) from None
            client.set_missing_host_key_policy(_RejectUnknown(str(self.known_hosts)))
        elif self.fingerprint is not None:
            client.set_missing_host_key_policy(_Pinned(self.fingerprint))
        else:
            client.set_missing_host_key_policy(_AcceptAny())
        try:
            client.connect(
                self.host,
                self.port,
                username=self.user,
                pkey=pkey,
                password=self._password.reveal() if self._password else None,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                channel_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(15)
        return client

    def connect(self) -> None:
        """Open the connection (retrying transient failures); auth and host-key failures raise at once."""
        with self._lock:
            if self._alive():
                return
            self._drop()
            pkey = self._load_key()
            retrying = Retrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_exponential(multiplier=0.2, max=2.0),
                retry=retry_if_exception(is_transient),
                reraise=True,
            )
            try:
                self._client = retrying(self._connect_once, pkey)
            except (_HostKeyRefusedError, paramiko.BadHostKeyException) as exc:
                raise HostKeyError(f"host key refused: {exc}", host=self._where, user=self.user) from None
            except paramiko.AuthenticationException as exc:
                raise AuthenticationError(f"authentication failed: {exc}", host=self._where, user=self.user) from None
            except LabError:
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise UnreachableError(
                        f"unreachable after {self.attempts} attempt(s): {exc}", host=self._where, user=self.user
                    ) from None
                raise LabError(
                    f"SSH connection failed: {type(exc).__name__}: {exc}", host=self._where, user=self.user
                ) from None

    def _alive(self) -> bool:
        transport = self._client.get_transport() if self._client is not None else None
        return transport is not None and transport.is_active()

    def _drop(self) -> None:
        self._drop_shell()
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _open_channel(self) -> paramiko.Channel:
        """A session channel; a transport that dropped is reopened once (no command was started on it yet)."""
        for attempt in (1, 2):
            self.connect()
            client = self._client
            transport = client.get_transport() if client is not None else None
            try:
                if transport is None:
                    raise EOFError("no transport")
                return transport.open_session(timeout=self.timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 2:
                    raise UnreachableError(f"cannot open a channel: {exc}", host=self._where, user=self.user) from None
                log.info("%s: SSH transport dropped (%s), reconnecting", self._where, exc)
                self.close()
        raise AssertionError("unreachable")

    # -- commands ---------------------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str] | str,
        timeout: float | None = None,
        check: bool = False,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run a command. A list is quoted (shlex.join); a string is run as a shell line. On timeout the channel
        is closed and CommandTimeoutError raised (the remote process may live on until it writes).

        Commands run in the connection's long-running shell when it is free (each in a subshell with stdin from
        /dev/null, so `exit`, `cd` and variables stay its own); with `stdin`, or while another thread uses the
        shell, in a session of their own."""
        command = quote_command(argv)
        limit = self.command_timeout if timeout is None else timeout
        argv_kept: tuple[str, ...] | str = argv if isinstance(argv, str) else tuple(argv)
        started = time.monotonic()
        if stdin is None and self.persistent_shell and self._shell_lock.acquire(blocking=False):
            try:
                status, out, err = self._in_shell(command, limit)
            finally:
                self._shell_lock.release()
        else:
            status, out, err = self._in_session(command, limit, stdin)
        result = CommandResult(
            argv=argv_kept,
            exit_status=status,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            duration=time.monotonic() - started,
            host=self.name,
            stdout_bytes=bytes(out),
        )
        return result.check(self.user) if check else result

    def _timed_out(self, command: str, limit: float, out: bytes) -> CommandTimeoutError:
        return CommandTimeoutError(
            f"command {command!r} did not finish within {limit:g} s",
            host=self._where,
            user=self.user,
            stdout=out.decode("utf-8", "replace"),
        )

    def _in_session(self, command: str, limit: float, stdin: bytes | None) -> tuple[int, bytes, bytes]:
        """The command in a session channel of its own: (exit status, stdout, stderr)."""
        chan = self._open_channel()
        started = time.monotonic()
        out, err = bytearray(), bytearray()
        try:
            chan.exec_command(command)
            if stdin:
                chan.sendall(stdin)
            chan.shutdown_write()
            while True:
                while chan.recv_ready():
                    out += chan.recv(_CHUNK)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(_CHUNK)
                drained = not chan.recv_ready() and not chan.recv_stderr_ready()
                if chan.exit_status_ready() and drained and (chan.eof_received or chan.closed):
                    break
                if time.monotonic() - started >= limit:
                    raise self._timed_out(command, limit, bytes(out))
                select.select([chan], [], [], _POLL)
            status = chan.recv_exit_status()  # -1: the server sent none (killed by a signal, or connection lost)
            if status == -1 and not self._alive():
                raise UnreachableError(f"connection lost while running {command!r}", host=self._where, user=self.user)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # Not retried: the command may have started, and running it twice is not always harmless.
            raise UnreachableError(
                f"connection lost while running {command!r}: {exc}", host=self._where, user=self.user
            ) from None
        finally:
            chan.close()
        return status, bytes(out), bytes(err)

    def _shell_channel(self) -> paramiko.Channel:
        """The connection's long-running shell, started (again) when there is none or it has ended."""
        shell = self._shell
        ended = shell is None or shell.closed or shell.eof_received or shell.exit_status_ready()
        if shell is not None and not ended and self._alive():
            return shell
        self._drop_shell()
        chan = self._open_channel()
        try:
            chan.exec_command("exec sh")
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise UnreachableError(f"cannot start a shell: {exc}", host=self._where, user=self.user) from None
        self._shell = chan
        return chan

    def _drop_shell(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            shell.close()

    def _in_shell(self, command: str, limit: float) -> tuple[int, bytes, bytes]:
        """The command in the long-running shell, its output framed by a random token: stdout ends with
        "\n<token> <status>\n", stderr with "\n<token>\n" (the leading newline is the frame's, not the output's).
        A shell that ends before the frame (a command that killed it) gives status -1, as a session would."""
        chan = self._shell_channel()
        token = secrets.token_hex(12).encode()
        script = (
            # eval: a command that does not parse fails on its own instead of swallowing the frame
            b"( eval " + shlex.quote(command).encode() + b" ) </dev/null\n"
            b"printf '\\n%s %d\\n' " + token + b" $?\n"
            b"printf '\\n%s\\n' " + token + b" >&2\n"
        )
        out, err = bytearray(), bytearray()
        out_end = err_end = -1
        status, scanned = -1, 0
        started = time.monotonic()
        try:
            chan.sendall(script)
            while out_end < 0 or err_end < 0:
                while chan.recv_ready():
                    out += chan.recv(_CHUNK)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(_CHUNK)
                if out_end < 0 and (found := _frame_end(out, token, scanned)) is not None:
                    out_end, status = found
                scanned = max(0, len(out) - len(token) - 32)  # a frame is never searched for twice in full
                if err_end < 0:
                    err_end = err.find(b"\n" + token + b"\n")
                if out_end >= 0 and err_end >= 0:
                    break
                if chan.closed or chan.eof_received or chan.exit_status_ready():
                    if not self._alive():
                        raise UnreachableError(
                            f"connection lost while running {command!r}", host=self._where, user=self.user
                        )
                    self._drop_shell()  # the shell ended under the command (e.g. it killed the shell)
                    return -1, bytes(out), bytes(err)
                if time.monotonic() - started >= limit:
                    self._drop_shell()
                    raise self._timed_out(command, limit, bytes(out))
                select.select([chan], [], [], _POLL)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            self._drop_shell()
            raise UnreachableError(
                f"connection lost while running {command!r}: {exc}", host=self._where, user=self.user
            ) from None
        except BaseException:
            # Interrupted (Ctrl-C, SIGTERM) before the frame: the rest of this command's output must not reach the
            # next one (the heal's), which gets a fresh shell.
            self._drop_shell()
            raise
        return status, bytes(out[:out_end]), bytes(err[:err_end])

    # -- files ------------------------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient | None:
        """The SFTP session, or None when the server has no SFTP subsystem (then `cat`/`tail` are used)."""
        if self._sftp is not None and self._alive():
            return self._sftp
        self.connect()
        assert self._client is not None
        try:
            self._sftp = self._client.open_sftp()
        except (paramiko.SSHException, EOFError) as exc:
            log.info("%s: no SFTP (%s), reading files with cat", self._where, exc)
            return None
        return self._sftp

    def read_file(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        """The bytes of a remote file from `offset` (to the end, or `length` bytes), by SFTP or else `tail`.
        Missing file: RemoteFileError with missing=True. A dropped connection is reopened once."""
        for attempt in (1, 2):
            sftp = self._sftp_client()
            if sftp is None:
                break
            try:
                with sftp.open(path, "rb") as fh:
                    fh.seek(offset)
                    if length is None:
                        fh.prefetch()
                        return fh.read()
                    return fh.read(length)
            except FileNotFoundError:
                raise RemoteFileError(
                    f"no such file {path}", host=self._where, user=self.user, path=path, missing=True
                ) from None
            except (paramiko.SSHException, EOFError, ConnectionError) as exc:
                if attempt == 2:
                    raise UnreachableError(
                        f"connection lost reading {path}: {exc}", host=self._where, user=self.user
                    ) from None
                self.close()
            except OSError as exc:
                raise RemoteFileError(
                    f"cannot read {path}: {exc}", host=self._where, user=self.user, path=path
                ) from None
        cmd = ["tail", "-c", f"+{offset + 1}", "--", path]
        line = quote_command(cmd) + (f" | head -c {int(length)}" if length is not None else "")
        res = self.run(f"{quote_command(['test', '-e', path])} || exit 66; {line}")
        if res.exit_status == 66:
            raise RemoteFileError(f"no such file {path}", host=self._where, user=self.user, path=path, missing=True)
        if res.exit_status != 0:
            raise RemoteFileError(
                f"cannot read {path}: {res.stderr.strip()}", host=self._where, user=self.user, path=path
            )
        return res.stdout_bytes

    def read_slices(self, reads: Sequence[tuple[str, int, int | None]]) -> list[FileSlice]:
        """For each (path, offset, length): the file's stat and its bytes from `offset` (at most `length`, never
        past the size the stat saw), all in one command. A file whose stat fails: RemoteFileError."""
        from faultlab.lab.shellbatch import parse_slices, slices_script

        if not reads:
            return []
        token = secrets.token_hex(12)
        res = self.run(slices_script(reads, token))
        out: list[FileSlice] = []
        for got in parse_slices(res.stdout_bytes, reads, token):
            if isinstance(got, tuple):
                why = res.stderr.strip() or f"exit {res.exit_status}"
                raise RemoteFileError(f"{got[1]}: {why}", host=self._where, user=self.user, path=got[0])
            out.append(got)
        return out

    def stat(self, path: str) -> FileStat | None:
        """Size, inode and mtime via `stat -c` (also on ESXi's busybox); None when the file does not exist."""
        exists = quote_command(["test", "-e", path])
        res = self.run(f"{exists} || exit 66; " + quote_command(["stat", "-c", "%s %i %Y", "--", path]))
        if res.exit_status == 66:
            return None
        parts = res.stdout.split()
        if res.exit_status != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise RemoteFileError(
                f"stat {path} failed (exit {res.exit_status}): {res.stderr.strip() or res.stdout.strip()}",
                host=self._where,
                user=self.user,
                path=path,
            )
        return FileStat(int(parts[0]), int(parts[1]), int(parts[2]))


class SshPool:
    """One SshClient per host or storage target of an inventory, made on first use."""

    def __init__(self, inventory: Inventory, *, command_timeout: float = 120.0, attempts: int = 3) -> None:
        self.inventory = inventory
        self.command_timeout, self.attempts = command_timeout, attempts
        self._clients: dict[str, SshClient] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> SshClient:
        with self._lock:
            client = self._clients.get(name)
            if client is None:
                client = SshClient.from_access(
                    self.inventory.ssh_for(name), command_timeout=self.command_timeout, attempts=self.attempts
                )
                self._clients[name] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> SshPool:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
