"""The pytest plugin: scenarios/*.yaml as test items, the lab (inventory or embedded) and run fixtures, JUnit figures.

A lab problem is an ERROR (raised in the item's setup), a behaviour that differs from the scenario a FAIL whose
message names the step. Options: --inventory / --lab / --artifacts, each also an ini key (faultlab_*).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from faultlab.harness.record import ERROR, PASSED, RunRecord
from faultlab.harness.scenario import load_scenario
from faultlab.lab.errors import ConfigError, FaultlabError
from faultlab.lab.inventory import Inventory, load_inventory

if TYPE_CHECKING:
    from faultlab.harness.runner import RunOptions

SCENARIO_DIR = "scenarios"
SCENARIO_SUFFIXES = (".yaml", ".yml")
EMBEDDED_STATE_ROOT = Path("/run/faultlab")  # `faultlab lab up` writes <root>/<lab id>/inventory.yaml
JUNIT_FIGURES = (
    "wall_s",
    "outage_s",
    "hold_s",
    "recovery_s",
    "inherent_s",
    "overhead_s",
    "bytes_collected",
    "bytes_grown",
)


class RunFn(Protocol):
    """What runs one scenario file against the lab an inventory describes (faultlab.harness.runner.run_file)."""

    def __call__(self, scenario_path: Path, inventory_path: Path, options: RunOptions) -> RunRecord: ...


class FaultlabHooks:
    """Hooks other plugins (and tests) implement."""

    @pytest.hookspec(firstresult=True)
    def pytest_faultlab_runner(self, config: pytest.Config) -> RunFn | None:
        """Return the function that runs a scenario (default: the real runner)."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(FaultlabHooks)


@pytest.hookimpl(trylast=True)
def pytest_faultlab_runner(config: pytest.Config) -> RunFn:
    from faultlab.harness.runner import run_file  # imported when first needed: collection stays light

    return run_file


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultlab", "faultlab scenarios")
    options = (
        ("inventory", "the lab's inventory file; none: the embedded lab, started once per session"),
        ("lab", "the id of a running embedded lab (`faultlab lab up`) instead of --inventory"),
        ("artifacts", "folder for run records and collected logs (default: artifacts)"),
    )
    for name, text in options:
        group.addoption(f"--{name}", dest=f"faultlab_{name}", default=None, help=text)
        parser.addini(f"faultlab_{name}", text, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs a lab (an inventory, or root for the embedded lab)")
    config.addinivalue_line("markers", "destructive: injects a fault into a lab")
    config.stash[_LAB] = LabProvider(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(_LAB, None)
    if provider is not None:
        provider.close()


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"faultlab_{name}") or config.getini(f"faultlab_{name}")
    return str(value) if value else None


@dataclass(frozen=True)
class Lab:
    """The lab of this session: its inventory file and the loaded inventory."""

    inventory_path: Path
    inventory: Inventory
    embedded_id: str | None = None


class LabProvider:
    """Resolves the session's lab once: --inventory, --lab ID, or an embedded lab started on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._lab: Lab | None = None
        self._error: str | None = None
        self._embedded: Any = None

    def get(self) -> Lab:
        if self._error is not None:
            raise LabUnavailable(self._error)
        if self._lab is None:
            try:
                self._lab = self._resolve()
            except ConfigError as exc:
                self._error = f"bad inventory: {exc}"
                raise LabUnavailable(self._error) from None
            except FaultlabError as exc:
                self._error = f"lab unavailable: {exc}"
                raise LabUnavailable(self._error) from None
        return self._lab

    def _resolve(self) -> Lab:
        inv = _option(self.config, "inventory")
        lab_id = _option(self.config, "lab")
        if inv is not None:
            path = Path(inv)
            if not path.is_absolute():
                path = self.config.rootpath / path
            return Lab(path, load_inventory(path))
        if lab_id is not None:
            path = EMBEDDED_STATE_ROOT / lab_id / "inventory.yaml"
            if not path.is_file():
                raise FaultlabError(f"no embedded lab {lab_id!r}: {path} does not exist (see `faultlab lab status`)")
            from faultlab.sim.lab import find_lab

            with contextlib.suppress(Exception):  # without its manifest the password must come from the environment
                _vcenter_password(find_lab(lab_id))
            return Lab(path, load_inventory(path), lab_id)
        return self._start_embedded()

    def _start_embedded(self) -> Lab:
        from faultlab.sim.errors import LabError as SimLabError  # the one place the harness starts the simulator
        from faultlab.sim.lab import EmbeddedLab

        try:
            # One VM: a fault on the NFS target may only cut off VMs the scenario names.
            self._embedded = EmbeddedLab.create(hosts=1, vms=1, vmfs_vms=1)  # win01 on NFS, win-vmfs01 on VMFS
        except SimLabError as exc:
            raise FaultlabError(f"cannot start the embedded lab: {exc}") from None
        _vcenter_password(self._embedded)
        path = Path(self._embedded.inventory_path)
        return Lab(path, load_inventory(path), str(self._embedded.lab_id))

    def close(self) -> None:
        if self._embedded is not None:
            self._embedded.down()
            self._embedded = None


def _vcenter_password(lab: Any) -> None:
    """The embedded vCenter's password into this process's environment, where the inventory's ${VAR} points."""
    from faultlab.sim.lab import vcenter_env

    if getattr(lab, "vcenter", True) is not None:
        os.environ.update(vcenter_env(lab))


_LAB = pytest.StashKey[LabProvider]()


class LabUnavailable(FaultlabError):  # noqa: N818 - a state, reported as the item's ERROR
    """The session has no usable lab (bad inventory, lab not startable)."""


def artifacts_dir(config: pytest.Config) -> Path:
    value = _option(config, "artifacts") or "artifacts"
    path = Path(value)
    return path if path.is_absolute() else config.rootpath / path


def _run(config: pytest.Config, scenario: Path) -> RunRecord:
    lab = config.stash[_LAB].get()
    from faultlab.harness.runner import RunOptions

    runner: RunFn = config.hook.pytest_faultlab_runner(config=config)
    return runner(scenario, lab.inventory_path, RunOptions(artifacts=artifacts_dir(config)))


def _properties(record: RunRecord) -> list[tuple[str, object]]:
    props: list[tuple[str, object]] = [("run_id", record.run_id), ("outcome", record.outcome)]
    props += [(k, record.figures[k]) for k in JUNIT_FIGURES if k in record.figures]
    props += [(f"recover_{r.condition.replace(' ', '_')}_s", r.seconds) for r in record.recovery if r.seconds]
    props += sorted(record.measures.items())  # fault_to_apd_start_s, heal_to_apd_exit_s, ...
    return props


# -- scenario files as items ------------------------------------------------------------------------------


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in SCENARIO_SUFFIXES and file_path.parent.name == SCENARIO_DIR:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        yield ScenarioItem.from_parent(self, name=self.path.stem)


class ScenarioItem(pytest.Item):
    """One scenario file. Setup runs it (a lab problem or an invalid file is an ERROR); the call judges it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("lab")
        self.add_marker("destructive")
        self.record: RunRecord | None = None

    def setup(self) -> None:
        problem = self._run()
        if problem is not None:  # failed outside the except blocks: the report shows the message, no chain
            pytest.fail(problem, pytrace=False)

    def _run(self) -> str | None:
        try:
            load_scenario(self.path)
        except ConfigError as exc:
            return f"bad scenario: {exc}"
        try:
            self.record = _run(self.config, self.path)
        except (ConfigError, LabUnavailable) as exc:
            return str(exc)
        except FaultlabError as exc:
            return f"lab problem: {exc}"
        self.user_properties.extend(_properties(self.record))
        if self.record.outcome == ERROR:
            return f"{self.record.message}\n(record: {self._record_path()})"
        return None

    def runtest(self) -> None:
        assert self.record is not None
        if self.record.outcome != PASSED:
            pytest.fail(
                f"scenario {self.name} {self.record.outcome}: {self.record.message}\n(record: {self._record_path()})",
                pytrace=False,
            )

    def _record_path(self) -> Path:
        assert self.record is not None
        return artifacts_dir(self.config) / self.record.run_id / "record.json"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.name}"


# -- fixtures for scenarios written in Python -------------------------------------------------------------


@pytest.fixture(scope="session")
def lab(pytestconfig: pytest.Config) -> Lab:
    """The session's lab (an ERROR for every test using it when it cannot be had)."""
    try:
        return pytestconfig.stash[_LAB].get()
    except LabUnavailable as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture
def run_scenario(lab: Lab, pytestconfig: pytest.Config, request: pytest.FixtureRequest) -> Callable[..., RunRecord]:
    """`run_scenario(path_or_yaml_text, check=True)`: run it on the session's lab. With check, a lab problem fails
    the test as "lab problem: ..." and a differing behaviour with the judge's message; the record is returned."""

    def run(scenario: str | Path, *, check: bool = True) -> RunRecord:
        path = Path(scenario) if isinstance(scenario, Path) or "\n" not in scenario else _write_text(scenario)
        record = _run(pytestconfig, path)
        request.node.user_properties.extend(_properties(record))
        if check and record.outcome == ERROR:
            pytest.fail(f"lab problem: {record.message}", pytrace=False)
        if check and record.outcome != PASSED:
            pytest.fail(f"scenario {record.scenario_name} {record.outcome}: {record.message}", pytrace=False)
        return record

    return run


def _write_text(text: str) -> Path:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="scenario-", delete=False, encoding="utf-8") as fh:
        fh.write(text)
    return Path(fh.name)
