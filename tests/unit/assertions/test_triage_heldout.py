"""`faultlab triage` on published ESXi logs the catalog and layouts were not written from (tests/fixtures/log-heldout/,
SOURCES.md there), scored against hand labels (tests/fixtures/labels-heldout/): recall and precision >= 0.9."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from faultlab.harness.cli import app

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HELDOUT = FIXTURES / "log-heldout"
LABELS = FIXTURES / "labels-heldout"


def _triage() -> list[dict[str, Any]]:
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(HELDOUT)])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def _expected() -> tuple[dict[tuple[str, int, str], str | None], dict[str, str]]:
    """{(file, line, event): subject or None} from the labels, and {file: kind}."""
    events: dict[tuple[str, int, str], str | None] = {}
    kinds: dict[str, str] = {}
    for label_file in sorted(LABELS.glob("*.yaml")):
        spec = yaml.safe_load(label_file.read_text())
        kinds[spec["sample"]] = spec["kind"]
        lines = (HELDOUT / spec["sample"]).read_text(encoding="utf-8").splitlines()
        for label in spec["events"] or []:
            (no,) = [i for i, text in enumerate(lines, 1) if label["line"] in text]
            events[(spec["sample"], no, label["name"])] = label.get("subject")
    return events, kinds


def test_every_heldout_log_has_labels_and_a_source() -> None:
    _, kinds = _expected()
    sources = (HELDOUT / "SOURCES.md").read_text()
    names = {p.name for p in HELDOUT.iterdir() if p.name != "SOURCES.md"}
    assert set(kinds) == names and all(f"| {n} |" in sources for n in names)


def test_recall_and_precision_on_heldout_published_logs() -> None:
    """Each labelled line gives its event (recall), every event is a labelled one (precision), both >= 0.9;
    every file is read as the kind its label says (none skipped); a labelled subject is the event's subject."""
    recs = _triage()
    files = {r["file"]: r for r in recs if r["record"] == "file"}
    expected, kinds = _expected()
    assert set(files) == {*kinds, "SOURCES.md"}, "every file is accounted for"
    assert files["SOURCES.md"]["skipped"].startswith("not a log"), "the notes are listed as skipped, with why"
    wrong = {f: (files[f]["log"], files[f].get("skipped"), k) for f, k in kinds.items() if files[f]["log"] != k}
    assert not wrong, f"read as the wrong log or skipped: {wrong}"
    got = {(r["file"], r["line"], r["name"]): r.get("subject") for r in recs if r["record"] == "event"}
    hits = set(got) & set(expected)
    recall, precision = len(hits) / len(expected), len(hits) / max(len(got), 1)
    detail = f"missed {sorted(set(expected) - set(got))}; false {sorted(set(got) - set(expected))}"
    assert recall >= 0.9 and precision >= 0.9, f"recall {recall:.2f} precision {precision:.2f}: {detail}"
    bad = {k: (got[k], expected[k]) for k in hits if expected[k] is not None and got[k] != expected[k]}
    assert not bad, f"wrong subjects: {bad}"
