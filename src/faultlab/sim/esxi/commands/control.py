"""The host's control socket: one JSON request per connection, one JSON answer (esxcli, vim-cmd, vCenter)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Any]
CommandRun = Callable[[list[str], str], tuple[int, str]]  # (argv, control socket) -> (exit status, output)
ENV_VAR = "FAULTLAB_ESXI_CONTROL"


class ControlError(RuntimeError):
    """The host answered with an error (message as esxcli would print it) or could not be reached."""


class ControlServer:
    """Serves requests `{"cmd": ..., ...}` -> `{"ok": true, "result": ...}` / `{"ok": false, "error": ...}`."""

    def __init__(self, path: Path, handler: Handler, stop: threading.Event) -> None:
        self.path = path
        self.handler = handler
        self.stop = stop
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        os.chmod(path, 0o660)
        self._sock.listen(16)
        self._sock.settimeout(0.2)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        self._sock.close()
        self.path.unlink(missing_ok=True)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = json.loads(_read_all(conn))
                answer = {"ok": True, "result": self.handler(request)}
            except ControlError as exc:
                answer = {"ok": False, "error": str(exc)}
            except (ValueError, KeyError, TypeError) as exc:
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            conn.sendall(json.dumps(answer).encode())


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def call(path: str | os.PathLike[str], cmd: str, timeout_s: float = 10.0, **args: Any) -> Any:
    """Send one request to the host at `path`; returns the result or raises ControlError."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(os.fspath(path))
        sock.sendall(json.dumps({"cmd": cmd, **args}).encode())
        sock.shutdown(socket.SHUT_WR)
        answer = json.loads(_read_all(sock))
    except (OSError, ValueError) as exc:
        raise ControlError(f"cannot reach the host agent at {os.fspath(path)}: {exc}") from exc
    finally:
        sock.close()
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error")))
    return answer.get("result")


def command_main(prog: str, run: CommandRun, argv: list[str] | None = None) -> int:
    """The entry point of a host command (esxcli, vim-cmd): the socket from --control or $FAULTLAB_ESXI_CONTROL,
    the output on stdout, or on stderr when the command fails (as ESXi's own tools do)."""
    args = list(sys.argv[1:] if argv is None else argv)
    control = os.environ.get(ENV_VAR, "")
    if args[:1] == ["--control"] and len(args) > 1:
        control, args = args[1], args[2:]
    if not control:
        sys.stderr.write(f"{prog}: set {ENV_VAR} or pass --control <socket>\n")
        return 1
    code, out = run(args, control)
    (sys.stdout if code == 0 else sys.stderr).write(out)
    return code
