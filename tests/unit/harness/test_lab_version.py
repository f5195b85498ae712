"""A scenario's `lab: {version: ...}`: the schema, the match against what a host reports, the refusal before
anything changes, and the embedded labs grouped by version (one per version, started when first needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from faultlab.harness import session as session_mod
from faultlab.harness.embedded import LabShape, embedded_version, shapes_for
from faultlab.harness.record import PASSED, RunRecord
from faultlab.harness.runner import RunOptions
from faultlab.harness.scenario import Scenario, load_scenario, parse_scenario, version_matches
from faultlab.harness.session import LabSource, SessionOptions, run_batch
from faultlab.lab.errors import ConfigError
from faultlab.lab.inventory import Inventory, parse_inventory
from faultlab.lab.ssh import CommandResult

ROOT = Path(__file__).resolve().parents[3]
CATALOG = sorted((ROOT / "scenarios").glob("*.yaml"))

BASE = """\
name: x
story: s
target: {host: esx01, vm: win01}
fault: {kind: memory-leak, on: esx01}
hold: 10s
expect: {in_order: [host.psod]}
"""


def with_lab(line: str) -> Scenario:
    return parse_scenario(BASE + line, "x.yaml")


@pytest.mark.parametrize(
    ("required", "reported", "ok"),
    [
        ("4.1", "VMware ESX 4.1.0 build-260247", True),  # sim/esx4/lines.py, ESX 4.1 GA's build
        ("4.1", "VMware ESXi 8.0.2 build-22380479", False),
        ("8.0", "VMware ESXi 8.0.2 build-22380479", True),
        ("8.0.2", "VMware ESXi 8.0.2 build-22380479", True),
        ("8.0.1", "VMware ESXi 8.0.2 build-22380479", False),
        ("7.0", "VMware ESXi 7.0.3 build-22348816", True),
        ("4.1.0", "4.1", True),  # an inventory's "4.1": the missing component is 0
        ("3.5", "VMware ESX Server 3.5.0 build-NNNNN", True),
        ("4.1", "no version here", False),
        ("4.1", "14.1.0", False),  # not a prefix match on the text
    ],
)
def test_version_matches(required: str, reported: str, ok: bool) -> None:
    assert version_matches(required, reported) is ok


def test_lab_version_in_the_file() -> None:
    assert with_lab('lab: {version: "4.1"}\n').required_version == "4.1"
    assert with_lab("lab: {version: 4.1}\n").required_version == "4.1"  # a YAML number, read as written
    assert with_lab("").required_version is None
    with pytest.raises(ConfigError) as info:
        with_lab('lab: {version: "4.x"}\n')
    assert "x.yaml" in str(info.value) and "lab.version" in str(info.value) and "line 7" in str(info.value)
    with pytest.raises(ConfigError) as info:
        with_lab('lab: {version: "4.1", hosts: 2}\n')
    assert "lab.hosts" in str(info.value)


def test_the_catalog_says_which_version_it_needs() -> None:
    versions = {p.stem: load_scenario(p).required_version for p in CATALOG}
    assert versions["esx4-lost-heartbeat"] == "4.1"
    assert {v for k, v in versions.items() if k != "esx4-lost-heartbeat"} == {None}


def test_a_host_reporting_another_version_is_refused_in_one_paragraph() -> None:
    sc = with_lab('lab: {version: "4.1"}\n')
    sc.check_reported_version("esx01", "VMware ESX 4.1.0 build-260247\n", "vmware -v")  # fine: no error
    with pytest.raises(ConfigError) as info:
        sc.check_reported_version("esx01", "VMware ESXi 8.0.2 build-22380479\n", "vmware -v")
    text = str(info.value)
    assert "\n" not in text.strip()
    assert "x.yaml" in text and "line 7" in text and "lab.version" in text
    assert "ESX(i) 4.1" in text and "'VMware ESXi 8.0.2 build-22380479'" in text and "nothing was changed" in text


def test_an_inventory_saying_another_version_is_refused_before_contact() -> None:
    inv = parse_inventory((ROOT / "inventory.example.yaml").read_text(), "inv.yaml", check_files=False)
    host = inv.hosts[0]
    assert host.version == "8.0"
    sc = parse_scenario(BASE.replace("esx01", host.name) + 'lab: {version: "4.1"}\n', "x.yaml")
    with pytest.raises(ConfigError) as info:
        sc.check_against(inv)
    assert "lab.version" in str(info.value) and "'8.0'" in str(info.value)
    ok = parse_scenario(BASE.replace("esx01", host.name) + 'lab: {version: "8.0"}\n', "x.yaml")
    problems = []
    try:
        ok.check_against(inv)
    except ConfigError as exc:
        problems = [i.key for i in exc.issues]
    assert "lab.version" not in problems


def test_the_catalog_is_shaped_into_one_lab_per_version() -> None:
    shapes = shapes_for([(str(p), load_scenario(p)) for p in CATALOG])
    assert set(shapes) == {"8.0", "4.1"}
    assert shapes["8.0"] == LabShape(hosts=1, vms=1, vmfs_vms=1, version="8.0")
    assert shapes["4.1"] == LabShape(hosts=1, vms=1, vmfs_vms=0, version="4.1")  # win01 on NFS only


def test_a_version_the_embedded_lab_lacks_is_bad_input_naming_the_file() -> None:
    sc = with_lab('lab: {version: "6.7"}\n')
    with pytest.raises(ConfigError) as info:
        embedded_version("scenarios/x.yaml", sc)
    assert "scenarios/x.yaml" in str(info.value) and "lab.version" in str(info.value) and "6.7" in str(info.value)
    assert embedded_version("y", with_lab('lab: {version: "8.0.2"}\n')) == "8.0"
    assert embedded_version("y", with_lab("")) == "8.0"


def _inventory_without_files(path: Path) -> Inventory:
    """The example inventory names key files this machine does not have: read it without checking them."""
    return parse_inventory(path.read_text(), str(path), check_files=False)


# -- the lab source: a fake embedded lab at the simulator boundary ---------------------------------------------


@dataclass
class FakeHandle:
    """Stands in for EmbeddedLabHandle (the simulator needs root and namespaces; tests/lab runs the real one)."""

    shape: LabShape
    log: list[str]
    lab_id: str = ""
    inventory_path: Path = field(default=ROOT / "inventory.example.yaml")

    def __post_init__(self) -> None:
        self.lab_id = f"lab-{self.shape.version}"
        self.log.append(f"up {self.shape.version}")

    def close(self) -> None:
        self.log.append(f"down {self.shape.version}")


def test_run_batch_brings_up_one_lab_per_version_and_takes_each_down_after_its_last_scenario(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log: list[str] = []
    monkeypatch.setattr(session_mod, "EmbeddedLabHandle", lambda shape: FakeHandle(shape, log))
    monkeypatch.setattr(session_mod, "check_before_contact", lambda sc, inv: None)
    monkeypatch.setattr(session_mod, "load_inventory", _inventory_without_files)
    order = [ROOT / "scenarios" / n for n in ("nfs-apd-bsod.yaml", "esx4-lost-heartbeat.yaml", "iscsi-apd.yaml")]
    shapes = shapes_for([(str(p), load_scenario(p)) for p in order])

    def runner(scenario_path: Path, inventory_path: Path, options: RunOptions) -> RunRecord:
        log.append(f"run {scenario_path.stem}")
        return RunRecord(
            run_id=scenario_path.stem,
            scenario_name=scenario_path.stem,
            scenario_path=str(scenario_path),
            scenario_text="",
            inventory_path=str(inventory_path),
            started="2026-12-06T00:00:00Z",
            outcome=PASSED,
        )

    source = LabSource(shape=lambda v: shapes[v], on_release=lambda h: log.append(f"release {h.lab_id}"))
    outcomes = run_batch(order, source, RunOptions(artifacts=tmp_path), runner, SessionOptions(record_history=False))
    source.close()
    assert [o.record is not None for o in outcomes] == [True, True, True]
    assert log == [
        "up 8.0",
        "run nfs-apd-bsod",
        "up 4.1",
        "run esx4-lost-heartbeat",
        "release lab-4.1",
        "down 4.1",  # no later scenario needs 4.1
        "run iscsi-apd",
        "release lab-8.0",
        "down 8.0",
    ]


def test_a_given_inventory_takes_every_scenario_whatever_its_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(session_mod, "check_before_contact", lambda sc, inv: None)
    inv = ROOT / "inventory.example.yaml"
    monkeypatch.setattr(session_mod, "load_inventory", _inventory_without_files)
    source = LabSource(inventories=[inv])
    assert source.given
    assert source.get("4.1") is source.get("8.0") is source.get(None)
    assert source.embedded == []


# -- the runner on a host of another version: refused in preflight, before anything changes ---------------------


class FakeEsxi:
    """The SSH boundary of a real ESXi 8 host: `vmware -v` answers, every command is recorded."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        command = argv if isinstance(argv, str) else " ".join(argv)
        self.ran.append(command)
        if command == "vmware -v":
            return CommandResult(command, 0, "VMware ESXi 8.0.2 build-22380479\n", "", 0.01)
        return CommandResult(command, 0, "", "", 0.01)


class FakePool:
    def __init__(self) -> None:
        self.host = FakeEsxi()

    def get(self, name: str) -> FakeEsxi:
        return self.host

    def close(self) -> None:
        pass


REAL_INVENTORY = """\
version: 1
kind: real
ssh: {user: root, private_key: key, known_hosts: kh}
hosts: [{name: esx01, address: 198.18.9.11}]
storage_targets:
  - {name: nfs01, kind: nfs, address: 198.18.9.21, allow_faults: true, ports: {nfs: 2049},
     service: {start: "s start", stop: "s stop"}}
datastores: [{name: ds-nfs01, type: nfs, target: nfs01, hosts: [esx01]}]
vms: [{name: win01, host: esx01, datastore: ds-nfs01}]
"""


def test_a_real_host_of_another_version_is_refused_before_anything_changes(tmp_path: Path) -> None:
    from faultlab.harness.runner import run_scenario

    text = """\
name: needs-41
story: s
lab: {version: "4.1"}
target: {host: esx01, datastore: ds-nfs01, vm: win01}
fault: {kind: network-blackhole, on: nfs01}
hold: 10s
expect: {in_order: [apd.start]}
"""
    inv = parse_inventory(REAL_INVENTORY, "inv.yaml", check_files=False)  # no version in the inventory
    pool = FakePool()
    opts = RunOptions(artifacts=tmp_path, state_dir=tmp_path / "ledger", pool_factory=lambda i: pool)
    rec = run_scenario(parse_scenario(text, "needs-41.yaml"), inv, scenario_text=text, options=opts)
    assert rec.outcome == "error"
    assert "needs-41.yaml, line 3, key lab.version" in rec.message
    assert "'VMware ESXi 8.0.2 build-22380479' (vmware -v); nothing was changed" in rec.message
    assert pool.host.ran == ["vmware -v"]  # nothing else was run on the host
    assert rec.fault is None and not (tmp_path / "ledger").exists()
    assert [p.name for p in rec.phases][-1] == "preflight"
