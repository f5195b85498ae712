"""The triage console view prints log text as text: bracketed ESXi ids are not rich markup (issue 12 item 6)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from faultlab.assertions.diagnose import Diagnosis, DiagVerdict
from faultlab.assertions.triage import triage
from faultlab.harness.report.triage_view import render

# reference/log-samples/vobd.log.txt:27-28 (VMware Support Insider blog, ESXi 5.0)
DEAD = (
    "2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] scsiPath "
    "vmhba2:C0:T1:L1 changed state from on"
)
DEGRADED = (
    "2012-05-22T07:02:04.681Z: [scsiCorrelator] 1680923124828us: [esx.problem.storage.redundancy.degraded] Path "
    "redundancy to storage device naa.6000144000000010a00f545a97c5704a degraded. Path vmhba2:C0:T1:L1 is down. "
    'Affected datastores: "Vplex_HP1".'
)


def test_bracketed_log_text_is_printed_not_eaten(tmp_path: Path) -> None:
    log = tmp_path / "vobd.log"
    # the second line lost its timestamp (cut at the front): an odd line whose text starts with brackets
    log.write_text(DEAD + "\n" + DEAD.split(": ", 1)[1] + "\n" + DEGRADED + "\n", encoding="utf-8")
    report = triage([tmp_path])
    # the line cut at the front is odd (no header) and still read (its vob id is whole)
    assert sorted(e.name for e in report.events) == ["path.dead", "path.dead", "redundancy.lost"]
    assert report.odd_lines == 1
    report.diagnoses.append(
        Diagnosis("KB 392634", "a title", DiagVerdict.TRUE, "[datastore1] win01", "summary [vob.x] kept")
    )
    console = Console(record=True, width=240, color_system=None)
    render(report, console)
    out = console.export_text()
    assert "[scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead]" in out  # the odd line
    assert "KB 392634: a title [true]" in out  # the verdict in the panel title
    assert "[datastore1] win01" in out and "summary [vob.x] kept" in out
    assert "vob.scsi.scsipath.pathstate.dead" in out and "esx.problem.storage.redundancy.degraded" in out
