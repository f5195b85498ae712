"""Running scenarios the way the CLI and the pytest plugin both do: a lab from a pool, an existing embedded lab or
a new one shaped for the scenarios; each run under the lab's lease and recorded in the history."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import yaml

from faultlab.harness.embedded import (
    DEFAULT_VERSION,
    EmbeddedLabHandle,
    LabShape,
    embedded_version,
    existing_lab_inventory,
)
from faultlab.harness.precheck import check_before_contact
from faultlab.harness.record import RunRecord
from faultlab.harness.scenario import load_scenario
from faultlab.lab.errors import ConfigError, FaultlabError, Issue
from faultlab.lab.inventory import Inventory, load_inventory
from faultlab.lab.lease import LeaseError, LeaseFactory, LeaseInfo, LeaseOptions, ssh_lease

if TYPE_CHECKING:  # the runner (SSH, pyVmomi) and the history (SQLAlchemy) load when a run starts, not at collection
    from faultlab.harness.runner import RunOptions

DEFAULT_LEASE_WAIT_S = 900.0


class RunFn(Protocol):
    """What runs one scenario file against the lab an inventory describes (faultlab.harness.runner.run_file)."""

    def __call__(self, scenario_path: Path, inventory_path: Path, options: RunOptions) -> RunRecord: ...


@dataclass(frozen=True)
class Lab:
    """The lab runs go to: its inventory file and the loaded inventory."""

    inventory_path: Path
    inventory: Inventory
    embedded_id: str | None = None


def pool_inventories(paths: Sequence[Path]) -> list[Path]:
    """--inventory values: inventory files, or pool files (`pool: [a.yaml, b.yaml]`, paths relative to the pool
    file) that list several labs."""
    out: list[Path] = []
    for p in paths:
        try:
            with p.open(encoding="utf-8") as fh:
                head = fh.read(1 << 16)
        except OSError as exc:
            raise ConfigError(Issue(str(p), None, "", f"cannot read: {exc.strerror or exc}")) from None
        data = None
        if "pool:" in head:
            try:
                data = yaml.safe_load(head)
            except yaml.YAMLError:
                data = None
        if isinstance(data, dict) and "pool" in data:
            pool = data["pool"]
            if not isinstance(pool, list) or not pool or not all(isinstance(x, str) for x in pool):
                raise ConfigError(Issue(str(p), None, "pool", "a non-empty list of inventory file paths is expected"))
            out += [(p.parent / x) if not Path(x).is_absolute() else Path(x) for x in pool]
        else:
            out.append(p)
    return out


@dataclass
class LabSource:
    """Where a worker's runs go: the `worker`-th lab of a pool of inventories, a running embedded lab by id, or
    embedded labs, one per ESX(i) version the scenarios need, each started on first use with the shape
    `shape(version)` gives (and taken down by `release` or `close`)."""

    inventories: Sequence[Path] = ()
    lab_id: str | None = None
    shape: Callable[[str], LabShape] = lambda version: LabShape(version=version)
    worker: int = 0
    on_release: Callable[[EmbeddedLabHandle], None] | None = None  # told before an embedded lab goes down
    _labs: dict[str, Lab] = field(default_factory=dict)
    _embedded: dict[str, EmbeddedLabHandle] = field(default_factory=dict)
    _errors: dict[str, str] = field(default_factory=dict)

    @property
    def given(self) -> bool:
        """An inventory or a running lab was named: every scenario goes there, whatever version it needs (the
        run refuses a host of another version before anything changes)."""
        return bool(self.inventories) or self.lab_id is not None

    def get(self, version: str | None = None) -> Lab:
        """The lab for scenarios needing `version` (an embedded version profile; None: the default 8.0)."""
        key = "" if self.given else (version or DEFAULT_VERSION)
        if key in self._errors:
            raise FaultlabError(self._errors[key])
        if key not in self._labs:
            try:
                self._labs[key] = self._resolve(key)
            except ConfigError as exc:
                self._errors[key] = f"bad inventory: {exc}"
                raise
            except FaultlabError as exc:
                self._errors[key] = f"lab unavailable: {exc}"
                raise
        return self._labs[key]

    def _resolve(self, version: str) -> Lab:
        if self.inventories:
            pool = pool_inventories(list(self.inventories))
            path = pool[self.worker % len(pool)]
            return Lab(path, load_inventory(path))
        if self.lab_id is not None:
            path = existing_lab_inventory(self.lab_id)
            return Lab(path, load_inventory(path), self.lab_id)
        handle = EmbeddedLabHandle(self.shape(version))
        self._embedded[version] = handle
        path = handle.inventory_path
        return Lab(path, load_inventory(path), handle.lab_id)

    @property
    def embedded(self) -> list[EmbeddedLabHandle]:
        """The embedded labs this source started and has not taken down yet."""
        return list(self._embedded.values())

    def release(self, version: str | None) -> None:
        """Take down the embedded lab of `version` (no more scenarios need it); a later `get` starts a new one."""
        key = version or DEFAULT_VERSION
        handle = self._embedded.pop(key, None)
        self._labs.pop(key, None)
        if handle is not None:
            if self.on_release is not None:
                self.on_release(handle)
            handle.close()

    def close(self) -> None:
        for version in list(self._embedded):
            self.release(version)


@dataclass
class SessionOptions:
    """The lease and history settings of a session's runs."""

    lease_wait_s: float = DEFAULT_LEASE_WAIT_S
    lease_ttl_s: float = 120.0
    history: str | None = None  # URL; None: $FAULTLAB_HISTORY, else SQLite in the artifacts folder
    record_history: bool = True
    on_lease_wait: Callable[[LeaseInfo], None] | None = None
    lease_factory: LeaseFactory = ssh_lease

    def lease(self) -> LeaseOptions:
        return LeaseOptions(
            wait_s=self.lease_wait_s, ttl_s=self.lease_ttl_s, factory=self.lease_factory, on_wait=self.on_lease_wait
        )

    warnings: list[str] = field(default_factory=list)  # history problems: said once, never fail a run


def run_one(
    scenario: Path,
    lab: Lab,
    options: RunOptions,
    runner: RunFn,
    session: SessionOptions | None = None,
) -> RunRecord:
    """Run one scenario under the lab's lease (the runner's first phase: taken before anything touches the lab,
    renewed while the run lasts, released after its recovery), then record it in the history."""
    # Mistakes between the scenario and the inventory are found before anything connects (the lease included).
    check_before_contact(load_scenario(scenario), lab.inventory)
    so = session or SessionOptions()
    record = runner(scenario, lab.inventory_path, replace(options, lease=so.lease()))
    if so.record_history:
        _record_history(record, options.artifacts / record.run_id, lab, options.artifacts, so)
    return record


def _record_history(record: RunRecord, run_dir: Path, lab: Lab, artifacts: Path, so: SessionOptions) -> None:
    from faultlab.harness.history import HistoryError, HistoryStore, history_url
    from faultlab.harness.history.trends import summarise

    url = history_url(so.history, artifacts)
    try:
        with HistoryStore(url) as store:
            store.add(summarise(record, run_dir, lab=lab.inventory.name or lab.embedded_id or str(lab.inventory_path)))
    except HistoryError as exc:
        warning = f"the run was not recorded in the history: {exc}"
        if warning not in so.warnings:
            so.warnings.append(warning)
            print(f"faultlab: {warning}", file=sys.stderr)


@dataclass
class Outcome:
    """One scenario of a batch: its record, or why it did not run."""

    scenario: Path
    record: RunRecord | None = None
    problem: str | None = None  # bad scenario file, or the lab problem that stopped the batch
    bad_input: bool = False


def _versions(scenarios: Sequence[Path]) -> list[str | None]:
    """The embedded version profile each scenario needs (None for a file that does not load: its run says why)."""
    out: list[str | None] = []
    for path in scenarios:
        try:
            out.append(embedded_version(str(path), load_scenario(path)))
        except ConfigError:
            out.append(None)
    return out


def run_batch(
    scenarios: Sequence[Path],
    source: LabSource,
    options: RunOptions,
    runner: RunFn,
    session: SessionOptions | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run scenarios one after another on the source's lab, each healed and recovered before the next. A failing
    scenario does not stop the others; a lab problem (or a lease that cannot be had) does: the rest are listed as
    not run. An embedded lab goes down after the last scenario needing its version; the caller closes `source`
    (every embedded lab goes down whatever happened)."""
    out: list[Outcome] = []
    stop: str | None = None
    versions = [None] * len(scenarios) if source.given else _versions(scenarios)
    for i, path in enumerate(scenarios):
        if stop is not None:
            result = Outcome(path, problem=f"not run: {stop}")
        else:
            try:
                if not source.given and versions[i] is None:
                    embedded_version(str(path), load_scenario(path))  # raises: the file's problem, no lab started
                lab = source.get(versions[i])
                result = Outcome(path, record=run_one(path, lab, options, runner, session))
            except ConfigError as exc:
                result = Outcome(path, problem=f"bad input: {exc}", bad_input=True)
            except (LeaseError, FaultlabError) as exc:
                stop = f"lab problem: {exc}"
                result = Outcome(path, problem=stop)
            if versions[i] is not None and versions[i] not in versions[i + 1 :]:
                source.release(versions[i])  # no later scenario needs this version's embedded lab
        out.append(result)
        if on_done is not None:
            on_done(result)
    return out
