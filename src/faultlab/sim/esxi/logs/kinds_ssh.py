"""auth.log, shell.log and vobd line kinds of an SSH login to the host (audit row C12)."""

from __future__ import annotations

from faultlab.sim.esxi.logs.linekind import HEADER_SAMPLES, LineKind, declare

# Sources of the real lines:
# * DFIR_80: a real ESXi 8.0 host, 2023-12 (the ESXi DFIR cheat-sheet, public GitHub file, index id 6841595446; also
#   the source of the vmware.log 8.0 prefix): auth.log `In(38) sshd[1053654]: Connection from ...`, `Accepted
#   keyboard-interactive/pam for root from ... ssh2`, `Session closed for 'root' on /dev/char/pty/t0`; shell.log
#   `In(14) shell[1053659]: [root]: vim-cmd vmsvc/getallvms` for each command typed at an interactive prompt.
# * HAUC: the HAUC ESXi notes (ESXi 6.5/6.7, public GitHub file, index id 1044398907), auth.log of one non-interactive
#   command: `sshd[77731]: Connection from 172.31.255.6 port 50311`, `User 'root' running command 'vim-cmd
#   vmsvc/power.getstate 91 2>&1'`, `Disconnected from 172.31.255.6 port 50311` (one pid for the connection).
# * DISSECT_70: fox-it/dissect.target tests/plugins/os/unix/esxi/esxi_log/test_auth.py, a real 7.0 auth.log (pid
#   2102622): the `User 'root' running command '...'` line cuts the command at 200 characters (the ansible command
#   there ends exactly at its 200th character, then the closing quote).
# * KB 321910 ("Auditing ESXi Shell logins and commands", ESXi 5.x-6.7): `sshd[64386]: Session opened for 'root' on
#   /dev/char/pty/t0`.
# * KB 421596 (log-samples/vobd.log.txt): `[UserLevelCorrelator] ...us: [vob.user.ssh.session.opened] SSH session
#   was opened for '…'.` (7.0) and the `.closed` twin (8.0), the KB masking the `user@address` argument; that the
#   argument is `root@<client ip>` is the event's two arguments in a real 7.0 hostd.log (dissect.target test_log.py:
#   esx.audit.ssh.session.opened, key 1 "root", key 2 "192.168.101.96") and Exabeam's parser for the line.
DFIR_80 = "ESXi DFIR cheat-sheet, a real ESXi 8.0 host (public GitHub file, index id 6841595446)"
HAUC_AUTH = "HAUC ESXi notes, ESXi 6.5/6.7 auth.log (public GitHub file, index id 1044398907)"
KB421596 = "log-samples/vobd.log.txt: KB 421596 (the KB masks the user@address argument as '…')"

_IP = r"\d+\.\d+\.\d+\.\d+"


def _auth(name: str, text: str, template: str, real: str, source: str, **more: object) -> LineKind:
    return declare(
        name=name, log="auth", text=text, template=template, real=real, source=source, extra={"prog": "sshd"}, **more
    )


AUTH_CONNECTION = _auth(
    "auth.connection",
    "Connection from {ip} port {port}",
    rf"Connection from {_IP} port \d+",
    HEADER_SAMPLES[("auth", "8.0")],
    DFIR_80,
    sample={"ip": "198.18.0.1", "port": 50311},
)
AUTH_ACCEPTED_KEY = _auth(
    "auth.accepted.publickey",
    "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{fingerprint}",
    rf"Accepted publickey for \w+ from {_IP} port \d+ ssh2: ED25519 SHA256:[A-Za-z0-9+/]{{43}}",
    "2023-12-05T17:35:43.320Z In(38) sshd[1053654]: Accepted keyboard-interactive/pam for root from 192.168.127.10 "
    "port 58470 ssh2",
    DFIR_80,
    derive=(
        ("keyboard-interactive/pam", "publickey"),
        (" ssh2", " ssh2: ED25519 SHA256:N84r82PdXq72rYLIq+mwcAOqbb4BEmpnjN7u7rkSD5M"),
    ),
    note="the lab logs in with a key, the samples with a password: OpenSSH's authlog() names the method "
    "`publickey` and appends the key type and fingerprint (auth.c, `ssh2%s%s` with the method info); no real ESXi "
    "publickey line was found",
    sample={
        "user": "root",
        "ip": "198.18.0.1",
        "port": 50311,
        "fingerprint": "N84r82PdXq72rYLIq+mwcAOqbb4BEmpnjN7u7rkSD5M",
    },
)
AUTH_RUNNING = _auth(
    "auth.running_command",
    "User '{user}' running command '{command}'",
    r"User '\w+' running command '.{0,200}'",
    "2018-07-05T20:12:46Z sshd[77731]: User 'root' running command 'vim-cmd vmsvc/power.getstate 91 2>&1'",
    HAUC_AUTH + "; the 200-character cut: dissect.target's real 7.0 auth.log",
    sample={"user": "root", "command": "vim-cmd vmsvc/getallvms"},
)
AUTH_SESSION_OPENED = _auth(
    "auth.session.opened",
    "Session opened for '{user}' on /dev/char/pty/t{pty}",
    r"Session opened for '\w+' on /dev/char/pty/t\d+",
    "2011-08-29T18:01:00Z sshd[64386]: Session opened for 'root' on /dev/char/pty/t0",
    "Broadcom KB 321910, Auditing ESXi Shell logins and commands (interactive SSH login)",
    sample={"user": "root", "pty": 0},
)
AUTH_SESSION_CLOSED = _auth(
    "auth.session.closed",
    "Session closed for '{user}' on /dev/char/pty/t{pty}",
    r"Session closed for '\w+' on /dev/char/pty/t\d+",
    "2023-12-05T17:59:31.981Z In(38) sshd[1053654]: Session closed for 'root' on /dev/char/pty/t0",
    DFIR_80,
    sample={"user": "root", "pty": 0},
)
AUTH_DISCONNECTED = _auth(
    "auth.disconnected",
    "Disconnected from {ip} port {port}",
    rf"Disconnected from {_IP} port \d+",
    "2018-07-05T20:12:46Z sshd[77731]: Disconnected from 172.31.255.6 port 50311",
    HAUC_AUTH,
    note="seen on 6.5/6.7; no 7.0/8.0 copy of the connection's last line was found [U]",
    sample={"ip": "198.18.0.1", "port": 50311},
)
SHELL_STARTED = declare(
    name="shell.session.started",
    log="shell",
    text="Interactive shell session started",
    template=r"Interactive shell session started",
    real="Interactive shell session started",
    real_is_body=True,
    source="elatov.github.io 2012-04 'What is seen in the logs when logging into an ESXi host': `Apr 22 13:27:30 "
    "shell[7721]: Interactive shell session started` (ESXi 5.0, /var/log/messages)",
    note="the only real copy is ESXi 5.0's; that 7.0/8.0 still write it at an SSH login is [U]",
    extra={"prog": "shell"},
    sample={},
)
SHELL_COMMAND = declare(
    name="shell.command",
    log="shell",
    text="[{user}]: {command}",
    template=r"\[\w+\]: .*",
    real=HEADER_SAMPLES[("shell", "8.0")],
    source=DFIR_80,
    extra={"prog": "shell"},
    sample={"user": "root", "command": "esxcli storage nfs list"},
)
_SSH_VOB = r"\[UserLevelCorrelator\] \d+us: "
VOB_SSH_OPENED = declare(
    name="vobd.vob.ssh.opened",
    log="vobd",
    text="[UserLevelCorrelator] {us}us: [vob.user.ssh.session.opened] SSH session was opened for '{who}'.",
    template=_SSH_VOB + r"\[vob\.user\.ssh\.session\.opened\] SSH session was opened for '[^']*'\.",
    real="2025-MM-DDThh:mm:ss.483Z: [UserLevelCorrelator] 1019369886505us: [vob.user.ssh.session.opened] SSH "
    "session was opened for '…'.",
    source=KB421596,
    extra={"event": "vob.user.ssh.session.opened"},
    sample={"us": 1019369886505, "who": "root@198.18.0.1"},
)
VOB_SSH_CLOSED = declare(
    name="vobd.vob.ssh.closed",
    log="vobd",
    text="[UserLevelCorrelator] {us}us: [vob.user.ssh.session.closed] SSH session was closed for '{who}'.",
    template=_SSH_VOB + r"\[vob\.user\.ssh\.session\.closed\] SSH session was closed for '[^']*'\.",
    real=HEADER_SAMPLES[("vobd", "8.0")],
    source=KB421596,
    extra={"event": "vob.user.ssh.session.closed"},
    sample={"us": 1012726884193, "who": "root@198.18.0.1"},
)
