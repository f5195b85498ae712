"""Every signature is held to its real samples: matched by exactly that signature and by its prefilter."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from faultlab.assertions import events as event_table
from faultlab.assertions.catalog import GREP_UNION, PREFILTER, SIGNATURES, Sample, Signature, signatures_for
from faultlab.assertions.catalog.vobd import VOB_SUFFIX
from faultlab.assertions.layouts import parse_line
from faultlab.assertions.model import LogKind

KIND = {
    "vmkernel": LogKind.VMKERNEL,
    "psod": LogKind.VMKERNEL,
    "vobd": LogKind.VOBD,
    "hostd": LogKind.HOSTD,
    "vmware": LogKind.VMWARE,
    "vmksummary": LogKind.VMKSUMMARY,
}
ALL = [(group, i, s) for group, sigs in SIGNATURES.items() for i, s in enumerate(sigs)]
SAMPLES = [(group, s, smp) for group, _i, s in ALL for smp in s.samples]


def test_every_signature_has_a_sample_or_says_why_not() -> None:
    missing = [f"{g}[{i}] {s.name}" for g, i, s in ALL if not s.samples and len(s.no_sample) < 40]
    assert missing == []
    assert all(smp.source.strip() for _g, _s, smp in SAMPLES)
    # most signatures are held to a real line; the exceptions are few and explained
    assert sum(1 for _g, _i, s in ALL if s.samples) >= 0.6 * len(ALL)


@pytest.mark.parametrize(("group", "sig", "sample"), SAMPLES, ids=[f"{g}:{s.name}" for g, s, _ in SAMPLES])
def test_sample_matched_by_exactly_its_signature(group: str, sig: Signature, sample: Sample) -> None:
    line = parse_line(sample.line, KIND[group], file=f"{group}.log", line_no=1, host="esx01")
    matching = [s for s in signatures_for(line) if s.apply(line.body) is not None]
    assert matching == [sig], (sample.line, [m.name for m in matching])


@pytest.mark.parametrize(("group", "sig", "sample"), SAMPLES, ids=[f"{g}:{s.name}" for g, s, _ in SAMPLES])
def test_sample_matched_by_its_prefilter(group: str, sig: Signature, sample: Sample) -> None:
    assert re.search(sig.prefilter, sample.line), (sig.prefilter, sample.line)
    assert sig.prefilter in PREFILTER


def test_prefilter_patterns_are_posix_ere() -> None:
    # Hyperscan and grep -E: no \d, no lookaround, no named or non-capturing groups
    for p in PREFILTER:
        assert "\\d" not in p and "(?" not in p, p


@pytest.mark.skipif(shutil.which("grep") is None, reason="needs grep")
def test_grep_union_selects_every_sample(tmp_path: Path) -> None:
    """The union the speed benchmark hands to `grep -E` keeps every sample line (run for real)."""
    lines = [smp.line for _g, _s, smp in SAMPLES]
    f = tmp_path / "samples.log"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = subprocess.run(["grep", "-E", "-c", GREP_UNION, str(f)], capture_output=True, text=True, check=False)
    assert int(out.stdout.strip()) == len(lines)


def test_every_event_the_catalog_makes_is_in_the_event_table() -> None:
    made = {s.name for sigs in SIGNATURES.values() for s in sigs} | set(VOB_SUFFIX.values())
    made -= {"vob", "hostd.event", "apd", "bootstop", "vmkhalt"}  # rules whose handler names the event
    made |= {"guest.bsod", "host.boot", "host.shutdown", "nfs.server.lost", "vmfs.heartbeat.timeout"}
    assert made <= {e.name for e in event_table.EVENTS}
    for e in event_table.EVENTS:
        assert e.label and re.fullmatch(r"#[0-9a-f]{6}", e.colour)
        if e.role is event_table.Role.RECOVERY:
            ended = event_table.info(e.ends or "")
            assert ended is not None and ended.role is event_table.Role.TROUBLE, e.name
        else:
            assert e.ends is None
