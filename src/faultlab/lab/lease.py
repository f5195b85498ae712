"""Lab leases: one run at a time injects into a lab, arbitrated by an atomic symlink on a lab node over SSH.

The lease is a symbolic link whose target text carries the holder (`ln -s TEXT PATH` fails with EEXIST when
PATH exists: the create is atomic on every POSIX file system and in busybox, the way Emacs' lock files work),
so no shared service is needed: two processes, two xdist workers or two CI machines reaching the same lab all
race on the same node. Expiry is judged on the node's own clock (`date +%s` in the same shell line), so the
runners' clocks never matter. Breaking an expired lease is serialised by a `mkdir` guard and only removes the
exact lease that was read as expired, never a fresh one taken in between.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from faultlab.lab.errors import LabError
from faultlab.lab.esxi import Runner
from faultlab.lab.inventory import Inventory

# /var/run: root-writable on ESXi and Linux alike; a ramdisk on ESXi, so a rebooted node forgets its lease (renewal
# retakes it); on the embedded lab each node has its own /var/run, so labs never share a lease.
DEFAULT_PATH = "/var/run/faultlab.lease"
DEFAULT_TTL_S = 120.0
_PREFIX = "faultlab-lease"
# Only these characters go into the link text, so it needs no quoting on the node and parses back exactly.
_SAFE = re.compile(r"[^A-Za-z0-9_.:@+-]")
_TEXT = re.compile(rf"^{_PREFIX} v=1 owner=(\S+) run=(\S+) expires=(\d+)$")


class LeaseError(LabError):
    """The lab is leased by another run (or the lease could not be read, taken or kept)."""


def _safe(text: str) -> str:
    return _SAFE.sub("_", text)[:120] or "_"


def default_owner() -> str:
    """`host:pid` of this process: who holds a lease, as people and the owner check read it."""
    return f"{_safe(socket.gethostname())}:{os.getpid()}"


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """A lease as read on the node: its holder, the run, when it expires and the node's clock at reading."""

    owner: str
    run_id: str
    expires: int  # epoch seconds on the node's clock
    node_now: int  # the node's clock when it was read

    @property
    def expired(self) -> bool:
        return self.node_now >= self.expires

    @property
    def remaining_s(self) -> int:
        return self.expires - self.node_now

    @property
    def text(self) -> str:
        return f"{_PREFIX} v=1 owner={self.owner} run={self.run_id} expires={self.expires}"

    def describe(self) -> str:
        state = "expired" if self.expired else f"expires in {self.remaining_s} s"
        return f"run {self.run_id} of {self.owner} ({state})"


def parse_lease(text: str, node_now: int) -> LeaseInfo | None:
    m = _TEXT.match(text.strip())
    if m is None:
        return None
    return LeaseInfo(owner=m.group(1), run_id=m.group(2), expires=int(m.group(3)), node_now=node_now)


@dataclass
class LeaseEvents:
    """What happened to a lease during a run, for the run record's notes."""

    notes: list[str] = field(default_factory=list)
    waited_s: float = 0.0


class LabLease:
    """The lease of one lab, kept as `path` on the node reached by `client`."""

    def __init__(self, client: Runner, *, node: str, path: str = DEFAULT_PATH, ttl_s: float = DEFAULT_TTL_S) -> None:
        if ttl_s < 5:
            raise ValueError(f"a lease lives at least 5 s (got {ttl_s})")
        self.client = client
        self.node = node
        self.path = path
        self.ttl_s = ttl_s
        self._held: LeaseInfo | None = None
        self._lock = threading.Lock()

    # -- one shell line each: the node does the compare-and-act, so the race is decided there -------------------
    def _sh(self, line: str) -> tuple[int, list[str]]:
        res = self.client.run(line, timeout=30)
        return res.exit_status, res.stdout.split("\n")

    def read(self) -> LeaseInfo | None:
        """The current lease, or None when the lab is free. An unreadable lease text is a LeaseError."""
        p = shlex.quote(self.path)
        status, out = self._sh(f'now=$(date +%s); echo "$now"; readlink {p} || true')
        if status != 0 or not out or not out[0].strip().isdigit():
            raise LeaseError(f"cannot read the lab lease {self.path} on {self.node}: {' '.join(out)[:200]}")
        now, text = int(out[0]), (out[1] if len(out) > 1 else "").strip()
        if not text:
            return None
        info = parse_lease(text, now)
        if info is None:
            raise LeaseError(
                f"{self.node}:{self.path} holds {text[:120]!r}, which is not a faultlab lease: remove it by hand "
                "if nothing else uses that path"
            )
        return info

    def try_acquire(self, owner: str, run_id: str) -> tuple[LeaseInfo | None, LeaseInfo | None]:
        """One attempt: (our lease, None) when taken, else (None, the holder's lease)."""
        p, ttl = shlex.quote(self.path), int(self.ttl_s)
        owner, run_id = _safe(owner), _safe(run_id)
        line = (
            f"now=$(date +%s); exp=$((now+{ttl})); "
            f'if ln -s "{_PREFIX} v=1 owner={owner} run={run_id} expires=$exp" {p} 2>/dev/null; '
            f'then echo "taken $now $exp"; else echo "held $now"; readlink {p} || true; fi'
        )
        status, out = self._sh(line)
        words = out[0].split() if out else []
        if status != 0 or len(words) < 2 or not words[1].isdigit():
            raise LeaseError(f"cannot take the lab lease {self.path} on {self.node}: {' '.join(out)[:200]}")
        now = int(words[1])
        if words[0] == "taken":
            info = LeaseInfo(owner=owner, run_id=run_id, expires=int(words[2]), node_now=now)
            with self._lock:
                self._held = info
            return info, None
        text = out[1].strip() if len(out) > 1 else ""
        if not text:  # released between our ln and readlink: the caller tries again
            return None, None
        holder = parse_lease(text, now)
        if holder is None:
            raise LeaseError(f"{self.node}:{self.path} holds {text[:120]!r}, which is not a faultlab lease")
        return None, holder

    def break_expired(self, seen: LeaseInfo) -> bool:
        """Remove `seen` if it is still the lease there (and expired, unless it was read live for `force`).
        True when this call removed it."""
        p, guard, text = shlex.quote(self.path), shlex.quote(self.path + ".break"), seen.text
        line = (
            # a guard left by a breaker killed mid-way is older than a minute: clear it
            f"find {guard} -maxdepth 0 -mmin +1 -exec rmdir {{}} \\; 2>/dev/null; "
            f"mkdir {guard} 2>/dev/null || exit 75; "
            f'if [ "$(readlink {p})" = "{text}" ]; then rm -f {p}; r=0; else r=1; fi; rmdir {guard}; exit $r'
        )
        status, _ = self._sh(line)
        return status == 0

    def renew(self) -> LeaseInfo:
        """Push our expiry forward (atomic rename of a fresh link over ours). LeaseError when it is not ours."""
        with self._lock:
            held = self._held
        if held is None:
            raise LeaseError("renew: this process holds no lease")
        p, ttl = shlex.quote(self.path), int(self.ttl_s)
        tmp = shlex.quote(f"{self.path}.{held.run_id}.renew")
        line = (
            f"now=$(date +%s); exp=$((now+{ttl})); "
            f'if [ "$(readlink {p})" = "{held.text}" ]; then rm -f {tmp}; '
            f'ln -s "{_PREFIX} v=1 owner={held.owner} run={held.run_id} expires=$exp" {tmp} && mv -f {tmp} {p} '
            f'&& echo "renewed $now $exp" && exit 0; fi; '
            # not ours any more; a node that rebooted (ESXi /tmp is a ramdisk) has none: take it again
            f'if ln -s "{_PREFIX} v=1 owner={held.owner} run={held.run_id} expires=$exp" {p} 2>/dev/null; '
            f'then echo "retaken $now $exp"; exit 0; fi; echo "lost $now"; readlink {p}; exit 1'
        )
        status, out = self._sh(line)
        words = out[0].split() if out else []
        if status != 0 or len(words) < 3:
            raise LeaseError(
                f"the lab lease on {self.node} is no longer ours (run {held.run_id}): "
                + (out[1].strip() if len(out) > 1 and out[1].strip() else "it was removed")
            )
        info = LeaseInfo(owner=held.owner, run_id=held.run_id, expires=int(words[2]), node_now=int(words[1]))
        with self._lock:
            self._held = info
        return info

    def release(self) -> bool:
        """Remove our lease (only if it is still ours). True when removed."""
        with self._lock:
            held, self._held = self._held, None
        if held is None:
            return False
        p = shlex.quote(self.path)
        status, _ = self._sh(f'if [ "$(readlink {p})" = "{held.text}" ]; then rm -f {p}; else exit 1; fi')
        return status == 0

    @property
    def held(self) -> LeaseInfo | None:
        with self._lock:
            return self._held


def acquire(
    lease: LabLease,
    *,
    owner: str,
    run_id: str,
    wait_s: float,
    poll_s: float = 2.0,
    progress: Callable[[LeaseInfo], None] | None = None,
    events: LeaseEvents | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LeaseInfo:
    """Take the lab's lease, breaking an expired one (noted in `events`), waiting up to `wait_s` for a live one
    (`progress` is told who holds it on every try). `wait_s` 0 fails at once. LeaseError names the holder."""
    events = events if events is not None else LeaseEvents()
    start = clock()
    while True:
        tried = clock()
        mine, holder = lease.try_acquire(owner, run_id)
        if mine is not None:
            events.waited_s = tried - start  # up to the try that took it: that try itself is work, not waiting
            return mine
        if holder is not None and holder.expired and lease.break_expired(holder):
            events.notes.append(
                f"lab lease on {lease.node}: broke the expired lease of run {holder.run_id} ({holder.owner}), "
                f"{-holder.remaining_s} s past its expiry"
            )
            continue
        # not broken: another breaker is at it, or it was renewed just now; wait like for a live lease
        if holder is not None and progress is not None:
            progress(holder)
        waited = clock() - start
        if waited >= wait_s:
            who = holder.describe() if holder is not None else "another run"
            raise LeaseError(
                f"the lab is leased by {who} on {lease.node}:{lease.path}; waited {waited:.0f} s of "
                f"{wait_s:.0f} s (--lease-wait). `faultlab lab lease show INVENTORY` shows it, "
                "`faultlab lab lease break INVENTORY` removes it when you know its holder is gone"
            )
        sleep(min(poll_s, max(0.1, wait_s - waited)))


class LeaseKeeper:
    """Renews a held lease in a background thread every third of its life; `lost` is set when renewal fails
    (another run broke it, or the node is unreachable past the lease's life)."""

    def __init__(self, lease: LabLease, on_lost: Callable[[str], None] | None = None) -> None:
        self.lease = lease
        self.on_lost = on_lost
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{lease.node}", daemon=True)

    def start(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def _loop(self) -> None:
        period = self.lease.ttl_s / 3
        last_ok = time.monotonic()
        while not self._stop.wait(period):
            try:
                self.lease.renew()
                last_ok = time.monotonic()
            except LeaseError as exc:
                self._lose(str(exc))
                return
            except (LabError, OSError) as exc:  # transient: keep trying while the lease can still be alive
                if time.monotonic() - last_ok >= self.lease.ttl_s:
                    self._lose(f"the lab lease could not be renewed for {self.lease.ttl_s:.0f} s: {exc}")
                    return

    def _lose(self, why: str) -> None:
        self.lost = why
        if self.on_lost is not None:
            self.on_lost(why)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=35)


def lease_node(inventory: Inventory) -> str:
    """The node that keeps an inventory's lease: its first ESXi host (every lab has one, and a run against the
    lab always reaches it), else its first storage target."""
    if inventory.hosts:
        return inventory.hosts[0].name
    if inventory.storage_targets:
        return inventory.storage_targets[0].name
    raise LeaseError("the inventory names no host and no storage target to keep a lab lease on")


LeaseFactory = Callable[[Inventory, float], contextlib.AbstractContextManager[LabLease]]


@contextlib.contextmanager
def ssh_lease(inventory: Inventory, ttl_s: float) -> Iterator[LabLease]:
    """The lab's lease on its lease node, over its own SSH connection (closed afterwards)."""
    from faultlab.lab.ssh import SshPool

    node = lease_node(inventory)
    with SshPool(inventory) as pool:
        yield LabLease(pool.get(node), node=node, ttl_s=ttl_s)


@dataclass
class LeaseOptions:
    """How a run takes its lab's lease: how long it waits for another run's, the lease's life, where it lives."""

    wait_s: float = 900.0
    ttl_s: float = 120.0
    factory: LeaseFactory = ssh_lease
    on_wait: Callable[[LeaseInfo], None] | None = None
