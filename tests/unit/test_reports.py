"""Reports of a run: view data, SVG timeline, HTML page, JUnit XML, terminal text, and the artifacts folder."""

from __future__ import annotations

import copy
import json
import shutil
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from faultlab.harness import artifacts as artifacts_mod
from faultlab.harness.artifacts import VCENTER_FILE, write_artifacts
from faultlab.harness.judgement import JudgedEvent, Judgement, StepStatus, Verdict
from faultlab.harness.record import ERROR, FAILED, Phase, RunRecord, iso, load_record, parse_iso
from faultlab.harness.report.data import build_view, lane_of_log
from faultlab.harness.report.html import render_html
from faultlab.harness.report.junit import junit_xml
from faultlab.harness.report.svg import timeline_svg
from faultlab.harness.report.text import MAX_ROWS, plain_text, print_report

FIXTURE = Path(__file__).parent.parent / "fixtures" / "runs" / "nfs-apd-bsod"  # a real embedded-lab run
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def run(tmp_path: Path) -> tuple[RunRecord, Path]:
    shutil.copytree(FIXTURE, tmp_path / "run")
    return load_record(tmp_path / "run")


def add_vsphere(record: RunRecord) -> None:
    """What lab/vsphere.py observes during the run, in the shape the runner is asked to record."""
    inj, heal = parse_iso(record.anchors["fault.injected"]), parse_iso(record.anchors["fault.healed"])

    def at(t: Any, s: float) -> str:
        return iso(t + timedelta(seconds=s))

    record.observations = [  # type: ignore[attr-defined]
        {"time": at(inj, 8.0), "object": "datastore ds-nfs01", "property": "summary.accessible", "value": False},
        {"time": at(heal, 1.9), "object": "datastore ds-nfs01", "property": "summary.accessible", "value": True},
        {"time": at(heal, 0.9), "object": "vm win01", "property": "guestHeartbeatStatus", "value": "red"},
        {"time": at(heal, 4.25), "object": "vm win01", "property": "guestHeartbeatStatus", "value": "green"},
    ]
    record.vcenter_events = [  # type: ignore[attr-defined]
        {
            "time": at(inj, 7.8),
            "eventTypeId": "esx.problem.storage.apd.start",
            "message": "Device or filesystem with identifier [c1092ecc-2c42957d] has entered the All Paths Down state.",
            "datastore": "ds-nfs01",
        },
        {"time": at(heal, 0.7), "eventTypeId": "VmGuestOSCrashedEvent", "message": "win01: Guest OS has crashed."},
    ]


def edit_judgement(record: RunRecord, edit: Any) -> None:
    """Change the record's judgement through its JSON (as a record on disk would say it) and load it back."""
    assert record.judgement is not None
    data = record.judgement.to_json()
    edit(data)
    record.judgement = Judgement.from_json(data)


def events(*dicts: dict[str, Any]) -> list[JudgedEvent]:
    return [JudgedEvent.model_validate(d) for d in dicts]


def failed_copy(record: RunRecord) -> RunRecord:
    """The same run judged as if nfs.server.restored (step 5) had never been logged."""
    rec = copy.deepcopy(record)

    def edit(data: dict[str, Any]) -> None:
        check = data["checks"][0]
        check["verdict"] = "false"
        check["message"] = "step 5 nfs.server.restored: absent: no nfs.server.restored event in the record"
        for i, m in enumerate(check["matched"]):
            if i == 4:
                m["status"], m["event"] = "missed", None
            elif i > 4:
                m["status"], m["event"] = "not reached", None
        data["verdict"] = "false"

    edit_judgement(rec, edit)
    assert rec.judgement is not None and rec.judgement.verdict is Verdict.FALSE
    rec.outcome, rec.message = FAILED, "FALSE in order: ...\n  step 5 nfs.server.restored: absent"
    return rec


# -- view data ---------------------------------------------------------------------------------------------


def test_view_has_a_lane_per_log_and_every_step_met(run: tuple[RunRecord, Path]) -> None:
    view = build_view(*run)
    keys = [lane.key for lane in view.lanes]
    assert keys[:6] == sorted(keys[:6])
    assert {"esx01 vobd.log", "esx01 vmkernel.log", "esx01 hostd.log", "esx01 win01/vmware.log"} <= set(keys)
    assert "esx01 vmksummary.log" in keys  # a quiet log keeps its lane
    assert [s.status for s in view.steps] == ["met"] * 8
    assert view.steps[1].lane == "esx01 vmkernel.log" and view.steps[6].lane == "esx01 win01/vmware.log"
    assert sum(len(lane.marks) for lane in view.lanes) == 24


def test_measures_from_the_anchors_and_the_events(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    view = build_view(record, run_dir)
    inj = parse_iso(record.anchors["fault.injected"])
    heal = parse_iso(record.anchors["fault.healed"])
    assert record.judgement is not None
    first = {n: min(e.time for e in record.judgement.named(n) if e.time) for n in ("apd.start", "apd.exit")}
    assert view.measures["fault_to_apd_start_s"] == pytest.approx((first["apd.start"] - inj).total_seconds(), abs=1e-3)
    assert view.measures["heal_to_apd_exit_s"] == pytest.approx((first["apd.exit"] - heal).total_seconds(), abs=1e-3)
    assert view.measures["apd_start_to_timeout_s"] >= record.settings["Misc.APDTimeout"]
    assert view.measures["heal_to_datastore_accessible_s"] == pytest.approx(record.recovery[0].seconds, abs=1e-3)
    assert view.measures["fault_window_s"] == pytest.approx((heal - inj).total_seconds(), abs=1e-3)
    assert "heal_to_guest_heartbeat_green_s" not in view.measures  # nothing observed it


def test_observations_and_vcenter_events_become_object_lanes(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    add_vsphere(record)
    view = build_view(record, run_dir)
    lanes = {lane.key: lane for lane in view.lanes}
    ds, vm = lanes["datastore ds-nfs01"], lanes["vm win01"]
    assert ds.kind == vm.kind == "vsphere"
    assert [m.name for m in ds.marks] == ["storage.apd.start", "accessible=false", "accessible=true"]
    assert [m.source for m in ds.marks] == ["vcenter", "property", "property"]
    assert lanes["vCenter events"].marks[0].name == "VmGuestOSCrashedEvent"
    assert view.measures["heal_to_guest_heartbeat_green_s"] == pytest.approx(4.25, abs=1e-3)
    # the recovery condition measured by the runner wins over the observed property
    assert view.measures["heal_to_datastore_accessible_s"] == pytest.approx(record.recovery[0].seconds, abs=1e-3)
    assert any(s.label.startswith("guest heartbeat green") for s in view.spans)


def test_lane_names() -> None:
    assert lane_of_log("esx01", "/var/run/log/vobd.log") == "esx01 vobd.log"
    assert lane_of_log("esx02", "/vmfs/volumes/ds1/win01/vmware.log") == "esx02 win01/vmware.log"


def test_record_never_judged_is_judged_from_its_logs(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    record.judgement = None
    view = build_view(record, run_dir)
    names = {m.name for m in view.marks()}
    assert {"apd.start", "apd.timeout", "apd.exit", "guest.bsod"} <= names
    assert view.steps == []


# -- SVG -----------------------------------------------------------------------------------------------------


def svg_tree(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG_NS}g") if cls in (g.get("class") or "").split()]


def test_svg_shows_fault_window_lanes_steps_and_spans(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    add_vsphere(record)
    root = svg_tree(timeline_svg(build_view(record, run_dir)))
    assert groups(root, "fault-window")
    assert {g.get("data-name") for g in groups(root, "anchor")} == {"fault.injected", "fault.healed"}
    lanes = {g.get("data-lane") for g in groups(root, "lane")}
    assert {"esx01 vobd.log", "datastore ds-nfs01", "vm win01"} <= lanes
    stepped = {g.get("data-step"): g.get("data-name") for g in groups(root, "mark") if g.get("data-step")}
    assert stepped == {str(i + 1): s for i, s in enumerate(json.loads(STEPS))}
    met = groups(root, "step")
    assert len(met) == 8 and all("met" in (g.get("class") or "") for g in met)
    titles = [t.text or "" for g in groups(root, "mark") for t in g.iter(f"{SVG_NS}title")]
    assert any("2026-11-22T04:55:55.500Z" in t for t in titles)  # absolute UTC in tooltips
    assert len(groups(root, "span")) >= 2
    assert {g.get("data-name") for g in groups(root, "phase")} >= {"hold", "heal", "recover"}


STEPS = json.dumps(
    [
        "hostd.slow_io",
        "apd.start",
        "nfs.server.lost",
        "apd.timeout",
        "nfs.server.restored",
        "apd.exit",
        "guest.bsod",
        "guest.tools_heartbeat.lost",
    ]
)


def test_svg_thins_hundreds_of_events_but_keeps_every_step(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    assert record.judgement is not None
    inj = parse_iso(record.anchors["fault.injected"])
    noise = [
        {
            "name": "hostd.slow_io",
            "time": iso(inj + timedelta(milliseconds=40 * i)),
            "host": "esx01",
            "file": "/var/run/log/hostd.log",
            "line": 1000 + i,
            "subject": "win01.vmx",
            "fields": {"seconds": 2},
        }
        for i in range(600)
    ]
    record.judgement.events = events(*noise) + record.judgement.events
    root = svg_tree(timeline_svg(build_view(record, run_dir)))
    marks = groups(root, "mark")
    assert len(marks) < 150
    assert sum(int(g.get("data-count") or 0) for g in marks) == 624
    assert sorted(int(g.get("data-step") or 0) for g in marks if g.get("data-step")) == list(range(1, 9))


def test_svg_lists_missed_steps_with_the_failure(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    root = svg_tree(timeline_svg(build_view(failed_copy(record), run_dir)))
    missed = groups(root, "missed")
    assert [g.get("data-step") for g in missed] == ["5"]
    text = "".join(missed[0].itertext())
    assert "nfs.server.restored" in text and "absent" in text
    assert [g.get("data-step") for g in groups(root, "not-reached")] == ["6", "7", "8"]


# -- HTML ----------------------------------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_escaped(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    record.scenario_name = "evil<script>alert(1)</script>"
    record.message = 'a "quoted" <b>message</b> & more'
    page = render_html(build_view(record, run_dir), files=["record.json"])
    parser = _Tags()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "img" not in tags and "link" not in tags
    assert "evil&lt;script&gt;" in page and "&lt;b&gt;message&lt;/b&gt; &amp; more" in page
    hrefs = [a.get("href") or "" for t, a in parser.tags if t == "a"]
    assert hrefs and not any(h.startswith(("http:", "https:", "//")) for h in hrefs)
    assert tags.count("svg") == 1


def test_html_of_a_failed_run_names_the_missed_step(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    page = render_html(build_view(failed_copy(record), run_dir))
    assert 'id="outcome"' in page and ">failed<" in page
    assert "steps not met" in page and "no nfs.server.restored event in the record" in page


# -- JUnit ---------------------------------------------------------------------------------------------------


def test_junit_one_testcase_with_every_time_as_property(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    add_vsphere(record)
    root = ET.fromstring(junit_xml(build_view(record, run_dir)))
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 1 and cases[0].get("name") == "nfs-apd-bsod"
    assert root.find("./testsuite").get("failures") == "0"  # type: ignore[union-attr]
    props = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    for key in (
        "phase_hold_s",
        "phase_recover_s",
        "fault_to_apd_start_s",
        "heal_to_apd_exit_s",
        "heal_to_datastore_accessible_s",
        "heal_to_guest_heartbeat_green_s",
        "wall_s",
        "inherent_s",
        "bytes_collected",
    ):
        assert float(props[key] or "nan") >= 0, key
    assert float(props["wall_s"] or 0) == pytest.approx(record.figures["wall_s"])
    assert props["step_4_apd.timeout"] == "met"
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    assert "fault.injected" in (cases[0].findtext("system-out") or "")


def test_junit_failure_and_error_and_unprintable_characters(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    failed = failed_copy(record)
    failed.message += " \x00\x1b[31m"
    root = ET.fromstring(junit_xml(build_view(failed, run_dir)))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == "FALSE in order: ..."
    assert "step 5 nfs.server.restored: absent" in (failure.text or "")
    errored = copy.deepcopy(record)
    errored.outcome, errored.message = ERROR, "lab problem in phase preflight: esx01: ssh refused"
    root = ET.fromstring(junit_xml(build_view(errored, run_dir)))
    assert root.find("./testsuite").get("errors") == "1"  # type: ignore[union-attr]
    error = root.find("./testsuite/testcase/error")
    assert error is not None and "ssh refused" in (error.get("message") or "")


# -- terminal ------------------------------------------------------------------------------------------------


def test_text_report_timeline_and_verdict(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    text = plain_text(build_view(record, run_dir), width=120)
    lines = text.splitlines()
    inj = next(i for i, ln in enumerate(lines) if "fault.injected" in ln)
    heal = next(i for i, ln in enumerate(lines) if "── fault.healed" in ln)
    bsod = next(i for i, ln in enumerate(lines) if "guest.bsod" in ln)
    assert inj < heal < bsod
    assert "✓2 apd.start" in text and "✓7 guest.bsod" in text
    assert "nfs-apd-bsod: PASSED" in text and "[met] step 8 guest.tools_heartbeat.lost" in text


def test_text_report_thins_long_timelines_and_shows_failures(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    rec = failed_copy(record)
    assert rec.judgement is not None
    many = []
    for i in range(200):  # alternating names defeat the run folding: the row cap has to act
        name = "path.dead" if i % 2 else "path.on"
        t = iso(parse_iso(rec.anchors["fault.injected"]) + timedelta(milliseconds=10 * i))
        many.append({"name": name, "time": t, "host": "esx01", "file": "/var/run/log/vmkernel.log", "line": 500 + i})
    rec.judgement.events += events(*many)
    text = plain_text(build_view(rec, run_dir), width=160)
    assert "more events not listed" in text
    assert len([ln for ln in text.splitlines() if ln.strip().startswith(("+", "-"))]) <= MAX_ROWS
    assert "[missed] step 5 nfs.server.restored" in text and "FAILED" in text


def test_print_report_writes_to_the_console(run: tuple[RunRecord, Path]) -> None:
    console = Console(record=True, width=120, force_terminal=False)
    print_report(*run, console=console)
    assert "nfs-apd-bsod: PASSED" in console.export_text()


# -- artifacts folder ----------------------------------------------------------------------------------------


def test_write_artifacts_folder(run: tuple[RunRecord, Path]) -> None:
    record, run_dir = run
    add_vsphere(record)
    out = write_artifacts(record, run_dir)
    assert out.problems == []
    names = {p.name for p in out.written}
    assert names == {"record.json", VCENTER_FILE, "junit.xml", "report.html"}
    assert len(out.logs) == len(record.logs) and all(p.is_relative_to(run_dir / "logs") for p in out.logs)
    doc = json.loads((run_dir / VCENTER_FILE).read_text())
    assert [e["eventTypeId"] for e in doc["events"]] == ["esx.problem.storage.apd.start", "VmGuestOSCrashedEvent"]
    assert doc["window"]["injected"] == record.anchors["fault.injected"]
    assert parse_iso(doc["window"]["from"]) < parse_iso(doc["window"]["injected"]) < parse_iso(doc["window"]["to"])
    reloaded, _ = load_record(run_dir)
    assert reloaded.run_id == record.run_id and reloaded.notes == []


def test_write_artifacts_reports_missing_logs_and_report_crashes(
    run: tuple[RunRecord, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    record, run_dir = run
    (run_dir / record.logs[2].file).unlink()

    def boom(*_a: object, **_k: object) -> str:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(artifacts_mod, "render_html", boom)
    out = write_artifacts(record, run_dir)
    assert any("vobd.log" in p and "missing" in p for p in out.problems)
    assert any(p.startswith("report.html: RuntimeError: renderer bug") for p in out.problems)
    assert (run_dir / "junit.xml").is_file() and not (run_dir / "report.html").exists()
    reloaded, _ = load_record(run_dir)
    assert any("renderer bug" in n for n in reloaded.notes)


def test_write_artifacts_for_a_run_that_never_got_to_inject(tmp_path: Path) -> None:
    record = RunRecord(
        run_id="nfs-apd-bsod-x",
        scenario_name="nfs-apd-bsod",
        scenario_path=None,
        scenario_text="name: nfs-apd-bsod\n",
        inventory_path=None,
        started="2026-11-22T04:51:03.000000Z",
        outcome=ERROR,
        message="lab problem in phase preflight: esx01: unreachable",
        phases=[Phase("preflight", "2026-11-22T04:51:03.100000Z", "2026-11-22T04:51:04.000000Z", "error", "x")],
    )
    out = write_artifacts(record, tmp_path / "run")
    assert out.problems == []
    page = (tmp_path / "run" / "report.html").read_text()
    assert "unreachable" in page and ">error<" in page
    root = ET.fromstring((tmp_path / "run" / "junit.xml").read_text())
    assert root.find("./testsuite/testcase/error") is not None


# -- command line --------------------------------------------------------------------------------------------


def test_report_command_writes_the_artifacts_and_prints_the_timeline(
    run: tuple[RunRecord, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer
    from typer.testing import CliRunner

    from faultlab.harness.cli.report import report

    app = typer.Typer()
    app.command()(report)
    _record, run_dir = run
    monkeypatch.setenv("COLUMNS", "400")  # long paths stay on one line whatever width the runner's terminal has
    res = CliRunner().invoke(app, [str(run_dir)])
    assert res.exit_code == 0, res.output
    assert "nfs-apd-bsod: PASSED" in res.output and str(run_dir / "report.html") in res.output
    assert (run_dir / "junit.xml").is_file()
    (run_dir / "logs" / "esx01" / "var" / "run" / "log" / "vobd.log").unlink()
    res = CliRunner().invoke(app, [str(run_dir), "--quiet"])
    assert res.exit_code == 3 and "vobd.log is missing" in res.output
    res = CliRunner().invoke(app, [str(run_dir / "nope.json")])
    assert res.exit_code == 2


def test_untimed_events_are_listed_not_placed_and_long_axes_count_minutes(run: tuple[RunRecord, Path]) -> None:
    from faultlab.harness.report.svg import Scale, tick_text

    record, run_dir = run
    assert record.judgement is not None
    masked = record.judgement.events[0].model_copy(update={"time": None, "name": "guest.bsod", "line": 77})
    record.judgement.events.append(masked)
    view = build_view(record, run_dir)
    assert [e.line for e in view.untimed] == [77]
    svg = timeline_svg(view)
    assert "1 events with a masked timestamp cannot be placed" in svg
    assert "(masked time)" in render_html(view)
    assert Scale(-20, 600).ticks() == [0, 120, 240, 360, 480, 600]
    assert tick_text(150, minutes=True) == "+2.5 min" and tick_text(-5) == "-5 s" and tick_text(0) == "0"


def test_unknown_step_is_orange_and_explained(run: tuple[RunRecord, Path]) -> None:
    from faultlab.harness.report.svg import UNKNOWN

    record, run_dir = run

    def edit(data: dict[str, Any]) -> None:
        check = data["checks"][0]
        check["verdict"], check["message"] = "unknown", "step 4 apd.timeout: untimed: its event has a masked timestamp"
        check["matched"][3]["status"] = "unknown"
        for m in check["matched"][4:]:
            m["status"], m["event"] = "not reached", None

    edit_judgement(record, edit)
    assert [s.status for s in build_view(record, run_dir).steps][3] is StepStatus.UNKNOWN
    root = svg_tree(timeline_svg(build_view(record, run_dir)))
    ring = next(g for g in groups(root, "mark") if g.get("data-step") == "4")
    assert any(c.get("stroke") == UNKNOWN for c in ring.iter(f"{SVG_NS}circle"))
    listed = [g for g in groups(root, "unknown") if "— unknown: step 4" in "".join(g.itertext())]
    assert [g.get("data-step") for g in listed] == ["4"]


def test_html_events_table_is_capped_but_keeps_the_steps(run: tuple[RunRecord, Path]) -> None:
    from faultlab.harness.report.html import MAX_EVENT_ROWS

    record, run_dir = run
    assert record.judgement is not None
    early = parse_iso(record.anchors["fault.injected"]) - timedelta(seconds=30)  # all before every step
    record.judgement.events += events(
        *(
            {"name": "path.dead", "time": early + timedelta(milliseconds=i), "host": "esx09", "file": "/x", "line": i}
            for i in range(MAX_EVENT_ROWS + 500)
        )
    )
    page = render_html(build_view(record, run_dir))
    start = page.index('<table class="events">')
    table = page[start : page.index("</table>", start)]
    assert table.count("<tr>") - 1 == MAX_EVENT_ROWS + 8  # header row; the 8 step events past the cap stay
    assert "516 more events are in record.json" in page
