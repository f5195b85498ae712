"""JUnit XML for one run: one testcase, every measured time as a property, FAIL/ERROR with the judge's message."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from faultlab.harness.record import ERROR, FAILED, PASSED
from faultlab.harness.report.data import RunView
from faultlab.harness.report.text import plain_text

JUNIT_FILE = "junit.xml"
SUITE = "faultlab"
CLASSNAME = "faultlab.scenarios"
# Characters XML 1.0 cannot hold (raw log lines may carry them): replaced, or the whole file would be unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def junit_properties(view: RunView) -> list[tuple[str, str]]:
    """(name, value) pairs: identity, verdict, then every measure (seconds, bytes) sorted by name."""
    r = view.record
    props = [
        ("run_id", r.run_id),
        ("scenario", r.scenario_name),
        ("outcome", r.outcome),
        ("verdict", r.judgement.verdict.value if r.judgement is not None else ""),
    ]
    if r.anchors:
        props += [(f"anchor_{k}", v) for k, v in sorted(r.anchors.items())]
    props += [(k, f"{v:g}") for k, v in sorted(view.measures.items())]
    for s in view.steps:
        props.append((f"step_{s.index}_{s.label}", s.status))
    return props


def junit_xml(view: RunView) -> str:
    """The JUnit document (testsuites > testsuite > one testcase) as text."""
    r = view.record
    wall = view.measures.get("wall_s", 0.0)
    failed, errored = r.outcome == FAILED, r.outcome not in (PASSED, FAILED)
    suites = ET.Element("testsuites")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=SUITE,
        tests="1",
        failures=str(int(failed)),
        errors=str(int(errored)),
        skipped="0",
        time=f"{wall:.3f}",
        timestamp=r.started,
    )
    case = ET.SubElement(suite, "testcase", classname=CLASSNAME, name=r.scenario_name, time=f"{wall:.3f}")
    props = ET.SubElement(case, "properties")
    for name, value in junit_properties(view):
        ET.SubElement(props, "property", name=xml_safe(name), value=xml_safe(value))
    message = xml_safe(r.message or f"outcome {r.outcome}")
    first = message.splitlines()[0] if message.strip() else f"outcome {r.outcome}"
    if failed:
        ET.SubElement(case, "failure", message=first, type="ScenarioFailed").text = message
    elif errored:
        kind = "LabProblem" if r.outcome == ERROR else "Unfinished"
        ET.SubElement(case, "error", message=first, type=kind).text = message
    ET.SubElement(case, "system-out").text = xml_safe(plain_text(view))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
