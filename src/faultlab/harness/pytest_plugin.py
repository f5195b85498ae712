"""The pytest plugin: scenarios/*.yaml as test items, the lab (inventory or embedded) and run fixtures, JUnit figures.

A lab problem is an ERROR (raised in the item's setup), a behaviour that differs from the scenario a FAIL whose
message names the step. Options: --inventory / --lab / --artifacts, each also an ini key (faultlab_*).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from faultlab.harness.embedded import LabShape, embedded_version, shapes_for
from faultlab.harness.record import ERROR, PASSED, RunRecord
from faultlab.harness.scenario import Scenario, load_scenario
from faultlab.harness.session import (
    DEFAULT_LEASE_WAIT_S,
    Lab,
    LabSource,
    RunFn,
    SessionOptions,
    run_one,
)
from faultlab.lab.errors import ConfigError, FaultlabError
from faultlab.lab.lease import LeaseFactory, ssh_lease

if TYPE_CHECKING:
    pass

SCENARIO_DIR = "scenarios"
SCENARIO_SUFFIXES = (".yaml", ".yml")
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


class FaultlabHooks:
    """Hooks other plugins (and tests) implement."""

    @pytest.hookspec(firstresult=True)
    def pytest_faultlab_runner(self, config: pytest.Config) -> RunFn | None:
        """Return the function that runs a scenario (default: the real runner)."""

    @pytest.hookspec(firstresult=True)
    def pytest_faultlab_lease_factory(self, config: pytest.Config) -> LeaseFactory | None:
        """Return what opens a lab's lease (default: over SSH on the lab's first host)."""


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(FaultlabHooks)


@pytest.hookimpl(trylast=True)
def pytest_faultlab_runner(config: pytest.Config) -> RunFn:
    from faultlab.harness.runner import run_file  # imported when first needed: collection stays light

    return run_file


@pytest.hookimpl(trylast=True)
def pytest_faultlab_lease_factory(config: pytest.Config) -> LeaseFactory:
    return ssh_lease


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultlab", "faultlab scenarios")
    inv_help = (
        "a lab's inventory file, or a pool file (`pool: [a.yaml, b.yaml]`); repeat for a pool of labs: pytest-xdist "
        "worker N takes lab N modulo the pool. None: an embedded lab per worker, shaped for the collected scenarios"
    )
    group.addoption("--inventory", dest="faultlab_inventory", action="append", default=None, help=inv_help)
    parser.addini("faultlab_inventory", inv_help, type="linelist", default=[])
    options = (
        ("lab", "the id of a running embedded lab (`faultlab lab up`) instead of --inventory"),
        ("artifacts", "folder for run records and collected logs (default: artifacts)"),
        ("history", "history database URL (default: $FAULTLAB_HISTORY, else SQLite in the artifacts folder)"),
        ("lease_wait", "seconds to wait for a lab leased by another run (0: fail at once; default 900)"),
    )
    for name, text in options:
        group.addoption(f"--{name.replace('_', '-')}", dest=f"faultlab_{name}", default=None, help=text)
        parser.addini(f"faultlab_{name}", text, default=None)
    parser.addini(
        "faultlab_scenario_dirs",
        "more folders whose *.yaml files are scenarios (besides folders named scenarios/ and files named on the "
        "command line)",
        type="paths",
        default=[],
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: needs a lab (an inventory, or root for the embedded lab)")
    config.addinivalue_line("markers", "destructive: injects a fault into a lab")
    config.stash[_LAB] = LabProvider(config)
    config.stash[_SCENARIOS] = []


def pytest_unconfigure(config: pytest.Config) -> None:
    provider = config.stash.get(_LAB, None)
    if provider is not None:
        provider.close()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n N` (dist `load`) over scenarios only: the longest first, the first round balanced by the history's
    wall times. Other dist modes, and collections with tests besides scenarios, keep xdist's own scheduling."""
    if config.getvalue("dist") != "load":
        return None
    from faultlab.harness.history.store import history_url
    from faultlab.harness.xdist_order import ScenarioScheduling, estimator

    url = history_url(_option(config, "history"), artifacts_dir(config))
    return ScenarioScheduling(config, log, estimator(config.rootpath, url))


def _option(config: pytest.Config, name: str) -> str | None:
    value = config.getoption(f"faultlab_{name}") or config.getini(f"faultlab_{name}")
    return str(value) if value else None


def _inventories(config: pytest.Config) -> list[Path]:
    values = config.getoption("faultlab_inventory") or config.getini("faultlab_inventory") or []
    return [p if (p := Path(v)).is_absolute() else config.rootpath / p for v in values]


def worker_index(config: pytest.Config) -> int:
    """pytest-xdist's worker number (gw0 -> 0), 0 without xdist."""
    workerid = str(getattr(config, "workerinput", {}).get("workerid", "gw0"))
    return int(workerid[2:]) if workerid[2:].isdigit() else 0


class LabProvider:
    """Resolves this worker's lab once (session.LabSource): a pool inventory, --lab ID, or embedded labs shaped
    for the collected scenarios, one per ESX(i) version they need, each started when a scenario of this worker first
    needs it (with xdist every worker has its own) and taken down at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.source = LabSource(
            inventories=_inventories(config),
            lab_id=_option(config, "lab"),
            shape=self._shape,
            worker=worker_index(config),
        )
        wait = _option(config, "lease_wait")
        try:
            lease_wait = float(wait) if wait is not None else DEFAULT_LEASE_WAIT_S
        except ValueError:
            raise pytest.UsageError(f"--lease-wait {wait!r}: a number of seconds is expected") from None
        self.session = SessionOptions(
            lease_wait_s=lease_wait,
            history=_option(config, "history"),
            lease_factory=config.hook.pytest_faultlab_lease_factory(config=config),
        )

    def _shape(self, version: str) -> LabShape:
        collected: list[tuple[str, Scenario]] = self.config.stash[_SCENARIOS]
        of_version = [(w, sc) for w, sc in collected if _version_or_none(w, sc) == version]  # others: their own error
        return shapes_for(of_version).get(version) or LabShape(version=version)

    def get(self, scenario: Scenario | None = None) -> Lab:
        """The lab for `scenario` (an embedded lab of the ESX(i) version it needs), or the default lab."""
        version = None
        if scenario is not None and not self.source.given:  # a version no embedded lab has: ConfigError, as is
            version = embedded_version(scenario.source.name if scenario.source else "<scenario>", scenario)
        try:
            return self.source.get(version)
        except ConfigError as exc:
            raise LabUnavailable(f"bad inventory: {exc}") from None
        except FaultlabError as exc:
            text = str(exc)
            said = text.startswith(("bad inventory", "lab unavailable"))
            raise LabUnavailable(text if said else f"lab unavailable: {text}") from None

    def close(self) -> None:
        self.source.close()


def _version_or_none(where: str, sc: Scenario) -> str | None:
    try:
        return embedded_version(where, sc)
    except ConfigError:
        return None


_LAB = pytest.StashKey[LabProvider]()
_SCENARIOS = pytest.StashKey[list[tuple[str, Scenario]]]()


class LabUnavailable(FaultlabError):  # noqa: N818 - a state, reported as the item's ERROR
    """The session has no usable lab (bad inventory, lab not startable)."""


def artifacts_dir(config: pytest.Config) -> Path:
    value = _option(config, "artifacts") or "artifacts"
    path = Path(value)
    return path if path.is_absolute() else config.rootpath / path


def _run(config: pytest.Config, scenario: Path) -> RunRecord:
    provider = config.stash[_LAB]
    lab = provider.get(load_scenario(scenario))
    from faultlab.harness.runner import RunOptions

    runner: RunFn = config.hook.pytest_faultlab_runner(config=config)
    return run_one(scenario, lab, RunOptions(artifacts=artifacts_dir(config)), runner, provider.session)


def _properties(record: RunRecord) -> list[tuple[str, object]]:
    # plain values only: xdist sends user_properties through execnet, which refuses an enum
    props: list[tuple[str, object]] = [("run_id", record.run_id), ("outcome", str(record.outcome))]
    props += [(k, record.figures[k]) for k in JUNIT_FIGURES if k in record.figures]
    props += [(f"recover_{r.condition.replace(' ', '_')}_s", r.seconds) for r in record.recovery if r.seconds]
    props += sorted(record.measures.items())  # fault_to_apd_start_s, heal_to_apd_exit_s, ...
    return props


# -- scenario files as items ------------------------------------------------------------------------------


def _named_on_command_line(config: pytest.Config, path: Path) -> bool:
    for arg in config.args:
        target = Path(arg.split("::", 1)[0])
        target = target if target.is_absolute() else config.invocation_params.dir / target
        if target.resolve() == path.resolve():
            return True
    return False


def is_scenario_file(config: pytest.Config, path: Path) -> bool:
    """A .yaml/.yml file in a folder named scenarios/, under an ini `faultlab_scenario_dirs` folder, or named on the
    command line (as pytest collects a test file given by path wherever it lives)."""
    if path.suffix not in SCENARIO_SUFFIXES:
        return False
    if path.parent.name == SCENARIO_DIR or _named_on_command_line(config, path):
        return True
    resolved = path.resolve()
    return any(resolved.is_relative_to(Path(d).resolve()) for d in config.getini("faultlab_scenario_dirs"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(parent.config, file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def scenario_markers(sc: Scenario) -> list[str]:
    """Markers a scenario gets from its content, for `-m`: the fault kind (network_blackhole, ...), each KB it
    reproduces (kb392634) and the datastore (ds_nfs01)."""
    names = [sc.fault.kind.replace("-", "_")]
    names += [re.sub(r"\W+", "", ref.lower()) for ref in sc.references if ref.strip()]
    if sc.target.datastore:
        names.append(re.sub(r"\W+", "_", sc.target.datastore.lower()))
    return [n for n in dict.fromkeys(names) if n.isidentifier()]


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[ScenarioItem]:
        item = ScenarioItem.from_parent(self, name=self.path.stem)
        try:
            sc = load_scenario(self.path)
        except ConfigError:
            yield item  # its setup reports the file's problem as an ERROR
            return
        self.config.stash[_SCENARIOS].append((str(self.path), sc))
        for name in scenario_markers(sc):
            self.config.addinivalue_line("markers", f"{name}: scenarios with this fault kind, KB or datastore")
            item.add_marker(name)
        yield item


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
