"""The scenario file model: DESIGN.md's example loads and maps onto checks.Step; mistakes name file/line/key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest

from faultlab.assertions.checks import Verdict, check_count, check_in_order, check_never
from faultlab.assertions.model import Event
from faultlab.assertions.timeline import Timeline
from faultlab.harness.faults import FAULT_KINDS
from faultlab.harness.faults.kinds.network import NetworkFault
from faultlab.harness.scenario import Scenario, parse_scenario, scenario_json_schema
from faultlab.lab.errors import ConfigError
from faultlab.lab.inventory import load_inventory

ROOT = Path(__file__).resolve().parents[2]

DESIGN_EXAMPLE = """\
name: nfs-apd-bsod
story: NFS server unreachable past the APD timeout; Windows guest bugchecks; VM recovers.
references: [KB 392634]
target: {host: esx01, datastore: ds-nfs01, vm: win01}
fault: {kind: network-blackhole, on: nfs01}          # or service-stop, lun-remove, ...
hold: "{Misc.APDTimeout} + 30s"                        # host settings are read at run time
expect:
  in_order:
    - apd.start:    {subject: $datastore}
    - apd.timeout:  {after: apd.start, at_least: "{Misc.APDTimeout}s"}
    - apd.exit:     {after: fault.healed}
    - guest.bsod:   {vm: $vm, code: 0xEF, within: 5m of fault.healed}
  never: [pdl]
recover: {within: 10m, vm: [powered_on, heartbeat_green], datastore: [accessible]}
"""
REAL = {"Misc.APDTimeout": 140}
SIM = {"Misc.APDTimeout": 4}


def parse(text: str) -> Scenario:
    return parse_scenario(text, "nfs-apd-bsod.yaml")


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def test_design_example_loads() -> None:
    sc = parse(DESIGN_EXAMPLE)
    assert isinstance(sc.fault, NetworkFault) and sc.fault.kind == "network-blackhole" and sc.fault.on == "nfs01"
    assert sc.variables() == {"host": "esx01", "datastore": "ds-nfs01", "vm": "win01"}
    assert sc.hold_for(REAL) == timedelta(seconds=170)
    assert sc.hold_for(SIM) == timedelta(seconds=34)
    assert sc.recover_within(REAL) == timedelta(minutes=10)
    assert sc.recover is not None and sc.recover.vm == ["powered_on", "heartbeat_green"]
    assert [n.event for n in sc.never_specs()] == ["pdl"]


def test_steps_follow_the_host_settings() -> None:
    sc = parse(DESIGN_EXAMPLE)
    real, sim = sc.steps(REAL), sc.steps(SIM)
    assert [s.name for s in real] == ["apd.start", "apd.timeout", "apd.exit", "guest.bsod"]
    assert real[0].subject == "ds-nfs01"
    assert (real[1].after, real[1].at_least, real[1].why_at_least) == (
        "apd.start",
        timedelta(seconds=140),
        "Misc.APDTimeout",
    )
    assert sim[1].at_least == timedelta(seconds=4)
    assert (real[3].vm, real[3].fields, real[3].after, real[3].within) == (
        "win01",
        {"code": 0xEF},
        "fault.healed",
        timedelta(minutes=5),
    )


def _event(name: str, at: float, line: int, subject: str | None = "ds-nfs01", **fields: object) -> Event:
    t0 = datetime(2026, 3, 1, 14, 35, 8, tzinfo=UTC)
    return Event(name, t0 + timedelta(seconds=at), "esx01", "vobd.log", line, name, subject, dict(fields))


def test_steps_run_through_the_checks() -> None:
    """The model's steps are what assertions/checks.py consumes: a matching history gives TRUE."""
    sc = parse(DESIGN_EXAMPLE)
    t0 = datetime(2026, 3, 1, 14, 35, 8, tzinfo=UTC)
    events = [
        _event("apd.start", 0, 1),
        _event("apd.timeout", 4.5, 2),
        _event("apd.exit", 20, 3),
        _event("guest.bsod", 25, 4, subject="win01", code=0xEF),
    ]
    anchors = {"fault.injected": t0 - timedelta(seconds=1), "fault.healed": t0 + timedelta(seconds=15)}
    tl = Timeline.build(events, anchors=anchors)
    assert check_in_order(sc.steps(SIM), tl).verdict is Verdict.TRUE
    assert check_in_order(sc.steps(REAL), tl).verdict is Verdict.FALSE  # 4.5 s is not the real 140 s
    assert check_never([n.event for n in sc.never_specs()], tl).verdict is Verdict.TRUE
    counted = parse(
        DESIGN_EXAMPLE.replace("  never: [pdl]", "  never: [pdl]\n  counts: {guest.bsod: {min: 1, max: 1}}")
    )
    (count,) = counted.counts(SIM)
    assert check_count(count.step, tl, min=count.min, max=count.max).verdict is Verdict.TRUE


def test_bare_names_counts_and_never_windows() -> None:
    text = DESIGN_EXAMPLE.replace("    - apd.start:    {subject: $datastore}", "    - apd.start").replace(
        "  never: [pdl]",
        "  never: [pdl, {event: 'host.*', after: fault.injected, before: fault.healed}]\n"
        "  counts: {guest.bsod: {vm: $vm, max: 1, after: fault.healed, within: 10m}}",
    )
    sc = parse(text)
    assert sc.steps(REAL)[0].subject is None
    never = sc.never_specs()
    assert (never[1].event, never[1].after, never[1].before) == ("host.*", "fault.injected", "fault.healed")
    (count,) = sc.counts(REAL)
    assert (count.step.vm, count.step.after, count.step.within, count.min, count.max) == (
        "win01",
        "fault.healed",
        timedelta(minutes=10),
        None,
        1,
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "message"),
    [
        ("kind: network-blackhole,", "kind: network-drop,", 5, "fault.kind", "does not match any of the expected tags"),
        ("fault: {kind: network-blackhole, on: nfs01}", "fault: {on: nfs01}", 5, "fault.kind", "missing key 'kind'"),
        ("on: nfs01}", "on: nfs01, lun: 3}", 5, "fault.lun", "unknown key"),
        (
            "fault: {kind: network-blackhole, on: nfs01}",
            "fault: {kind: lun-remove, on: iscsi01, lun: -1}",
            5,
            "fault.lun",
            "greater than or equal to 0",
        ),
        ('hold: "{Misc.APDTimeout} + 30s"', 'hold: "{Misc.APDTimeout} + 30 parsecs"', 6, "hold", "unknown unit"),
        ('hold: "{Misc.APDTimeout} + 30s"', "hold: true", 6, "hold", "a duration is a number of seconds"),
        (
            'at_least: "{Misc.APDTimeout}s"',
            'at_least: "{Misc.APDTimeout} +"',
            10,
            "expect.in_order[1]['apd.timeout'].at_least",
            "bad token",
        ),
        (
            "subject: $datastore",
            "subject: $datastor",
            9,
            "expect.in_order[0]['apd.start']",
            "unknown variable '$datastor'",
        ),
        (
            "after: fault.healed}",
            "after: fault.heal}",
            11,
            "expect.in_order[2]['apd.exit'].after",
            "neither an earlier step nor an anchor",
        ),
        (
            "    - apd.exit:     {after",
            "    - apd.exti:     {after",
            11,
            "expect.in_order[2]['apd.exti']",
            "names no event of the signature catalog",
        ),
        ("  never: [pdl]", "  never: [pld]", 13, "expect.never[0]", "'pld' names no event"),
        ("  never: [pdl]", "  never: [{event: pdl, after: apd.start}]", 13, "expect.never[0].after", "not an anchor"),
        (
            "  never: [pdl]",
            "  counts: {guest.bsod: {vm: $vm}}",
            13,
            "expect.counts['guest.bsod']",
            "a count needs min or max",
        ),
        (
            "  never: [pdl]",
            "  counts: {apd.exit: {min: 1, after: apd.start}}",
            13,
            "expect.counts['apd.exit'].after",
            "counts from an anchor",
        ),
        (
            "    - apd.start:    {subject: $datastore}",
            "    - {apd.start: {}, apd.exit: {}}",
            9,
            "expect.in_order[0]",
            "at most 1 item",
        ),
        (
            "recover: {within: 10m, vm: [powered_on, heartbeat_green], datastore: [accessible]}",
            "recover: {within: 10m}",
            14,
            "recover",
            "at least one condition",
        ),
        ("vm: [powered_on,", "vm: [powered_up,", 14, "recover.vm[0]", "'restarted_at_most_once' or 'reboots_cleanly'"),
        ("story: NFS", "stroy: NFS", 2, "stroy", "unknown key"),
        ("target: {host: esx01, ", "target: {", 4, "target.host", "Field required"),
        (
            "    - apd.start:    {subject: $datastore}",
            "    - apd.start:    {subject: $datastore, within: 5s}",
            9,
            "expect.in_order[0]['apd.start']",
            "first step need 'after'",
        ),
    ],
)
def test_mistakes_name_file_line_and_key(old: str, new: str, line: int, key: str, message: str) -> None:
    assert old in DESIGN_EXAMPLE
    err = error_of(DESIGN_EXAMPLE.replace(old, new))
    assert any(
        (i.file, i.line, i.key) == ("nfs-apd-bsod.yaml", line, key) and message in i.message for i in err.issues
    ), str(err)


def test_on_is_a_key_not_a_yaml_11_boolean() -> None:
    assert parse(DESIGN_EXAMPLE).fault.on == "nfs01"


# -- against the inventory ---------------------------------------------------------------------------------


def test_check_against_the_example_inventory() -> None:
    inv = load_inventory(ROOT / "inventory.example.yaml", check_files=False)
    parse(DESIGN_EXAMPLE).check_against(inv)
    bad = parse(
        DESIGN_EXAMPLE.replace(
            "fault: {kind: network-blackhole, on: nfs01}", "fault: {kind: lun-remove, on: nfs01}"
        ).replace("vm: win01}", "vm: win09}")
    )
    with pytest.raises(ConfigError) as info:
        bad.check_against(inv)
    assert [(i.line, i.key) for i in info.value.issues] == [(4, "target.vm"), (5, "fault.kind")]
    assert "lun-remove needs an iscsi target; nfs01 is nfs" in str(info.value)
    ports = parse(DESIGN_EXAMPLE.replace("on: nfs01}", "on: nfs01, ports: [nfs, 2049, smb]}"))
    with pytest.raises(ConfigError, match=r"line 5, key fault.ports\[2\]: target nfs01 has no port 'smb'"):
        ports.check_against(inv)
    host_fault = parse(DESIGN_EXAMPLE.replace("kind: network-blackhole, on: nfs01", "kind: esxi-path-off, on: nfs01"))
    with pytest.raises(ConfigError, match="esxi-path-off acts on a host; no host 'nfs01'"):
        host_fault.check_against(inv)


# -- published schema --------------------------------------------------------------------------------------


def test_schema_file_is_current_and_accepts_the_example() -> None:
    import yaml

    schema = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())
    assert schema == scenario_json_schema()
    from faultlab.lab.yamlsource import parse_yaml

    data = parse_yaml(DESIGN_EXAMPLE, "x").data  # YAML 1.2 booleans: `on` stays a key
    jsonschema.validate(data, schema)
    data["fault"]["kind"] = "network-drop"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)
    assert yaml.safe_load("on: x") == {True: "x"}  # why the loader must not be PyYAML's default


def test_the_schemas_fault_kinds_are_the_registrys() -> None:
    """The published schema's `fault` is one variant per registry kind, each with that kind's own keys."""
    schema = scenario_json_schema()
    variants = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["properties"]["fault"]["oneOf"]]
    assert [v["properties"]["kind"]["const"] for v in variants] == list(FAULT_KINDS)
    keys = {v["properties"]["kind"]["const"]: set(v["properties"]) - {"kind", "on"} for v in variants}
    assert keys["lun-remove"] == {"lun"} and keys["esxi-path-off"] == {"path"} and keys["network-reject"] == {"ports"}
    assert all(v["additionalProperties"] is False for v in variants)


# -- issue 11 items 8/9: durations against the real ranges, checked before the lab is contacted ----------------


def test_durations_follow_the_real_range_of_each_setting() -> None:
    ok = DESIGN_EXAMPLE.replace('hold: "{Misc.APDTimeout} + 30s"', 'hold: "{Misc.APDTimeout}s - 5s"').replace(
        'at_least: "{Misc.APDTimeout}s"}', 'at_least: "{Misc.APDTimeout}s - 5s"}'
    )
    sc = parse(ok)
    assert sc.hold_for(REAL) == timedelta(seconds=135)
    bad = DESIGN_EXAMPLE.replace('hold: "{Misc.APDTimeout} + 30s"', 'hold: "2s - {Misc.APDTimeout}s"')
    err = error_of(bad)
    assert (err.line, err.key) == (6, "hold")
    assert "negative for every value the host may have (Misc.APDTimeout 20..999999)" in str(err)
    bound = DESIGN_EXAMPLE.replace('at_least: "{Misc.APDTimeout}s"}', 'at_least: "2s - {Misc.APDTimeout}s"}')
    err = error_of(bound)
    assert err.line == 10 and "negative for every value" in str(err)


def test_a_duration_the_host_makes_unusable_is_a_config_error_at_its_line() -> None:
    sc = parse(DESIGN_EXAMPLE.replace('hold: "{Misc.APDTimeout} + 30s"', 'hold: "{Misc.APDTimeout}s - 5s"'))
    with pytest.raises(ConfigError) as info:
        sc.hold_for(SIM)  # the embedded lab's APD timeout is 4 s: 4 s - 5 s
    assert (info.value.line, info.value.key) == (6, "hold")
    assert "with the host's settings: Misc.APDTimeout = 4" in str(info.value)
    bound = parse(DESIGN_EXAMPLE.replace('at_least: "{Misc.APDTimeout}s"}', 'at_least: "{Misc.APDTimeout}s - 5s"}'))
    with pytest.raises(ConfigError, match="negative"):
        bound.steps(SIM)


def test_a_huge_hold_is_refused_at_its_line() -> None:
    err = error_of(DESIGN_EXAMPLE.replace('hold: "{Misc.APDTimeout} + 30s"', 'hold: "100000000000000000000s"'))
    assert (err.line, err.key) == (6, "hold") and "longer than a year" in str(err)
    err = error_of(DESIGN_EXAMPLE.replace('hold: "{Misc.APDTimeout} + 30s"', "hold: 100000000000000000000"))
    assert err.line == 6 and "longer than a year" in str(err)
