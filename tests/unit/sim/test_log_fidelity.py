"""Fidelity: every kind of line the simulated ESXi host writes, in both version profiles, against a real line."""

# The kinds come from the writers' own registry (faultlab.sim.esxi.logs.kinds): a writer accepts nothing but a
# registered LineKind, and a LineKind cannot be made without a template and the real line it was read off. Each
# kind is rendered through the real formatter in 7.0 and 8.0; the line must have its profile's real prefix and a
# body the template matches, and the template must match the real line (after the kind's declared substitutions,
# which make it "extrapolated" and need a note saying why). A new line kind without a real template fails here.

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from faultlab.sim.esxi.logs import kinds
from faultlab.sim.esxi.logs.authlog import syslog_line
from faultlab.sim.esxi.logs.hostd import hostd_line
from faultlab.sim.esxi.logs.kinds import LineKind
from faultlab.sim.esxi.logs.vmkernel import vmkernel_line
from faultlab.sim.esxi.logs.vmksummary import vmksummary_line
from faultlab.sim.esxi.logs.vmwarelog import vmware_line, winbsod_lines
from faultlab.sim.esxi.logs.vobd import vobd_line

PROFILES = ("7.0", "8.0")
TS = "2026-12-06T05:07:24.239Z"
SIM = Path(__file__).resolve().parents[3] / "src" / "faultlab" / "sim" / "esxi"

# Real sources quote lines with masked or bracketed timestamps and sometimes no level column: a loose prefix.
_LOOSE_TS = r"(?:\[[^\]]*\]|[0-9YMDTHSXhms:.#+-]+Z?:?)"
LOOSE = {
    "vmkernel": _LOOSE_TS
    + r" (?:(?:In\(182\) vmkernel|Wa\(180\) vmkwarning): )?cpu\d+:\d+(?: opID=\w+)?\)(?P<body>.*)",
    "vobd": _LOOSE_TS + r" (?:In\(14\) vobd\[\d+\]:\s+)?(?P<body>.*)",
    "hostd": _LOOSE_TS + r" (?:(?:verbose|info|warning|error) hostd\[\w+\] |(?:Db|In|Wa|Er)\(\d+\) Hostd\[\d+\]: )?"
    r"(?P<body>.*)",
    "vmware": _LOOSE_TS + r"(?:\| [\w-]+\| [IWE]\d{3}: | (?:In\(05\)|Wa\(03\)|Er\(02\)) [\w-]+ (?:-|\S+) )(?P<body>.*)",
    "vmksummary": _LOOSE_TS + r" (?:\w+(?:\[\d+\])?: )?(?P<body>.*)",
    "auth": _LOOSE_TS + r" (?:In\(38\) )?sshd\[\d+\]: (?P<body>.*)",
    "shell": _LOOSE_TS + r" (?:In\(14\) )?shell\[\d+\]: (?P<body>.*)",
}


def render(profile: str, kind: LineKind) -> str:
    """The kind's line as the simulator's own formatter writes it."""
    fields = dict(kind.sample)
    if kind.log == "vmkernel":
        return vmkernel_line(profile, TS, 3, 2097803, kind, **fields)
    if kind.log == "vobd":
        return vobd_line(profile, TS, 2097521, kind, **fields)
    if kind.log == "hostd":
        return hostd_line(profile, TS, 2099995, kind, **fields)
    if kind.log == "vmware":
        return vmware_line(profile, kind, "vcpu-1", TS, **fields)
    if kind.log in ("auth", "shell"):
        return syslog_line(profile, TS, 1053654, kind, **fields)
    return vmksummary_line(profile, datetime(2026, 12, 6, 5, 7, 24, 239000, tzinfo=UTC), 137121, kind, **fields)


def real_body(kind: LineKind) -> str:
    line = kind.real
    for old, new in kind.derive:
        assert old in line, f"{kind.name}: derive {old!r} is not in its real line"
        line = line.replace(old, new)
    if kind.real_is_body:
        return line
    match = re.fullmatch(LOOSE[kind.log], line)
    assert match, f"{kind.name}: the real line has no {kind.log} prefix: {kind.real!r}"
    return match["body"]


def problems(kind: LineKind) -> list[str]:
    """Every way `kind` departs from its real line; empty when it is faithful."""
    out: list[str] = []
    template = re.compile(kind.template)
    body = real_body(kind)
    if not template.fullmatch(body):
        out.append(f"{kind.name}: template {kind.template!r} does not match the real line's body {body!r}")
    if kind.derive and not kind.note:
        out.append(f"{kind.name}: extrapolated from a real line without a note saying why")
    if not kind.source.strip():
        out.append(f"{kind.name}: no source for its real line")
    if kind.log == "vmkernel" and (kind.level == "warning") != kind.template.startswith("WARNING: "):
        out.append(f"{kind.name}: level {kind.level} but the real line's WARNING: prefix says otherwise")
    for profile in PROFILES:
        line = render(profile, kind)
        head = re.fullmatch(kinds.HEADERS[(kind.log, profile)], line)
        if not head:
            out.append(f"{kind.name} ({profile}): no real {kind.log} prefix: {line!r}")
        elif not template.fullmatch(head["body"]):
            out.append(f"{kind.name} ({profile}): the simulator's {head['body']!r} does not match {kind.template!r}")
    return out


@pytest.mark.parametrize("name", sorted(kinds.KINDS))
def test_every_line_kind_matches_a_real_line_in_both_profiles(name: str) -> None:
    assert problems(kinds.KINDS[name]) == []


def test_prefixes_are_read_off_real_lines() -> None:
    for key, pattern in kinds.HEADERS.items():
        assert re.fullmatch(pattern, kinds.HEADER_SAMPLES[key]), key
    assert set(kinds.HEADERS) == {(log, p) for log in LOOSE for p in PROFILES}


def test_winbsod_continuations_are_the_real_marker() -> None:
    lines = winbsod_lines("8.0", "vcpu-1", 0xEF, (0xFFFFB5096E266080, 0, 0, 0))
    for line in lines[1::2]:
        assert re.fullmatch(kinds.CONTINUATION_80, line), line
    for line in lines[::2]:
        head = re.fullmatch(kinds.HEADERS[("vmware", "8.0")], line)
        assert head and re.fullmatch(kinds.VMX_WINBSOD.template, head["body"]), line


def test_a_kind_that_departs_from_its_real_line_is_reported() -> None:
    bogus = LineKind(
        name="vmkernel.bogus",
        log="vmkernel",
        text="NFS: 1338: Mounted {server}",
        template=r"NFS: \d+: Mounted \S+",
        real=kinds.NFS_MOUNTED.real,
        source="none",
        sample={"server": "x"},
    )
    assert any("does not match the real line" in p for p in problems(bogus))
    drifted = LineKind(
        **{**kinds.NFSLOCK_STOP.__dict__, "name": "x", "text": "NFSLock: 1505: Stop fd 0x{fd:x}({file})"}
    )
    assert any("the simulator's" in p for p in problems(drifted))
    with pytest.raises(TypeError):
        LineKind(name="x", log="vmkernel", text="t", template="t", source="s", sample={})  # type: ignore[call-arg]


def _sim_modules() -> list[Path]:
    return sorted(p for p in SIM.rglob("*.py") if p.name != "linekind.py")


def test_line_kinds_are_only_made_in_the_registry_and_logs_only_written_by_writers() -> None:
    """Introspection of the simulator's source: no LineKind made outside linekind.declare (it would escape this test),
    no log file written around the writers, and every `kinds.<NAME>` the simulator uses is a registered kind."""
    registered = {name for name, value in vars(kinds).items() if isinstance(value, LineKind)}
    used: set[str] = set()
    for path in _sim_modules():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("logs.kinds"):
                used.update(alias.name for alias in node.names)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                assert name != "LineKind", f"{path.name}:{node.lineno} makes a LineKind outside the registry"
                if name == "write_lines":
                    assert path.parent.name == "logs", f"{path.name}:{node.lineno} writes a log around its writer"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "kinds":
                used.add(node.attr)
    used = {name for name in used if name.isupper()}  # kinds are constants; LineKind itself is the type
    assert used, "the simulator uses no line kinds: the scan found nothing"
    assert used <= registered, used - registered
    unused = registered - used
    assert not unused, f"registered kinds the simulator never writes: {sorted(unused)}"


def test_extrapolated_kinds_are_few_and_named() -> None:
    extrapolated = sorted(k.name for k in kinds.KINDS.values() if k.derive and "placeholder" not in k.note)
    assert all(kinds.KINDS[n].note for n in extrapolated)
    assert len(extrapolated) < len(kinds.KINDS) // 2, extrapolated
