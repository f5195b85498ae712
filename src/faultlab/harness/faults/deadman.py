"""The dead-man timer: a shell on the fault's node that heals the fault by itself after hold + grace."""

from __future__ import annotations

import math
import re
import shlex

from faultlab.lab.errors import LabError
from faultlab.lab.esxi import Runner

MARK = "faultlab-deadman"
STAGES = ("firing", "healed")  # the timer's marker files, in the order it writes them


def marker_path(tag: str, stage: str = "healed") -> str:
    """The file a timer leaves on the node: `firing` when its sleep ran out and its heal begins, `healed` when
    that heal succeeded (the harness then knows it need not act, and that the timer, not someone else, healed)."""
    return f"/tmp/{MARK}.{re.sub(r'[^A-Za-z0-9._-]', '_', tag)}.{stage}"


def timer_script(tag: str, delay_s: float, heal_shell: str) -> str:
    """A detached `sh -c` whose command line names the tag (checked before it is killed), that sleeps then heals.
    The TERM trap stops the sleep with it, so a cancelled timer leaves nothing behind. Whole seconds: busybox's
    sleep (ESXi) may not take fractions."""
    inner = (
        f": {MARK} {tag}; trap 'kill $s 2>/dev/null; exit 0' TERM; "
        f"sleep {max(math.ceil(delay_s), 1)} & s=$!; wait $s; : > {shlex.quote(marker_path(tag, 'firing'))}; "
        f"if ( {heal_shell} ); then : > {shlex.quote(marker_path(tag))}; fi"
    )
    return f"nohup sh -c {shlex.quote(inner)} </dev/null >/dev/null 2>&1 & echo $!"


def start_timer(client: Runner, tag: str, delay_s: float, heal_shell: str, *, node: str = "") -> int:
    """Start the timer on the node; its pid there."""
    res = client.run(timer_script(tag, delay_s, heal_shell))
    text = res.stdout.strip()
    if not res.succeeded or not text.isdigit():
        raise LabError(f"cannot start the dead-man timer (exit {res.exit_status}): {res.stderr.strip()}", host=node)
    return int(text)


def _match_script(pid: int, tag: str, action: str) -> str:
    # Exit 0: the pid is our timer (then `action` runs); 3: no such process; 4: the pid is something else now.
    # Linux: /proc/<pid>/cmdline. ESXi has no /proc: `ps -c` lists "WID CID WorldName Command" (CID = the pid).
    needle = shlex.quote(f"{MARK} {tag};")
    return (
        f"if [ -d /proc/self ]; then c=$(tr '\\0' ' ' </proc/{pid}/cmdline 2>/dev/null); "
        f"else c=$(ps -c 2>/dev/null | awk -v p={pid} '$2 == p'); fi; [ -n \"$c\" ] || exit 3; "
        f'case "$c" in *{needle}*) {action} ;; *) exit 4 ;; esac'
    )


def timer_running(client: Runner, pid: int, tag: str) -> bool:
    return client.run(_match_script(pid, tag, "exit 0")).exit_status == 0


def cancel_timer(client: Runner, pid: int, tag: str, *, clear_marks: bool = False) -> bool:
    """Kill the timer if that pid is still our timer (its command line names the tag); True when it was killed.
    With `clear_marks`, its marker files go too, after the kill (same round trip)."""
    script = _match_script(pid, tag, f"kill {pid}")
    if clear_marks:
        marks = " ".join(shlex.quote(marker_path(tag, s)) for s in STAGES)
        script = f"( {script} ); r=$?; rm -f {marks}; exit $r"
    return client.run(script).exit_status == 0


def timer_fired(client: Runner, tag: str) -> bool:
    """The timer ran its heal, and the heal succeeded (its marker file is there)."""
    return client.run(["test", "-e", marker_path(tag)]).exit_status == 0


def timer_marks(client: Runner, tag: str) -> frozenset[str]:
    """Which of the timer's markers are on the node (`firing`, `healed`), in one round trip."""
    script = "; ".join(f"[ -e {shlex.quote(marker_path(tag, s))} ] && echo {s}" for s in STAGES) + "; true"
    return frozenset(client.run(script).stdout.split()) & frozenset(STAGES)


def timer_began_heal(client: Runner, tag: str) -> bool:
    """The timer's sleep ran out and its heal has begun (it may still be running: the fault can already look
    healed while the timer has not yet written its `healed` marker)."""
    return client.run(["test", "-e", marker_path(tag, "firing")]).exit_status == 0


def clear_marker(client: Runner, tag: str) -> None:
    client.run(["rm", "-f", *(marker_path(tag, s) for s in STAGES)])
