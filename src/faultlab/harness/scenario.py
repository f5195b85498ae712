"""The scenario file model (one YAML per scenario): target, fault, hold, expectations, recovery; line-aware errors."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    model_validator,
)

from faultlab.assertions.checks import Step, steps_from_spec
from faultlab.assertions.durations import Settings, check_duration, parse_duration, split_reference
from faultlab.assertions.model import CATALOG_NAMES
from faultlab.assertions.timeline import name_matches
from faultlab.harness.faults.kinds.base import FaultSection
from faultlab.harness.faults.registry import kind_of, section_type
from faultlab.lab.errors import ConfigError, Issue
from faultlab.lab.inventory import NAME_RE, Inventory
from faultlab.lab.yamlsource import Loc, Source, load_yaml, parse_yaml, raise_if

# Instants the harness records on the timeline; steps may count from them ("5m of fault.healed").
ANCHORS: tuple[str, ...] = ("fault.injected", "fault.healed")
VARIABLES = ("host", "datastore", "vm")  # "$vm" etc. in expectations, from `target`
T = TypeVar("T")
_STEP_KEYS = ("subject", "vm", "host", "after", "at_least", "within", "label")


# -- field types ------------------------------------------------------------------------------------------


def _witness_settings(spec: dict[str, Any]) -> dict[str, float]:
    """Settings are read from the host at run time; before that, values within each setting's real range for which
    the step's bounds (at_least, within) are usable durations (check_duration raises when there are none)."""
    out: dict[str, float] = {}
    for key in ("at_least", "within"):
        value = spec.get(key)
        if isinstance(value, str):
            out.update(check_duration(split_reference(value)[0]))
    return out


def _duration_expr(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text such as '30s' or '{Misc.APDTimeout} + 30s'")
    if isinstance(value, int | float):
        value = f"{value}s"
    if isinstance(value, str):
        check_duration(value)
    return value


def _bound_expr(value: Any) -> Any:
    """A step bound: a duration, optionally "of"/"after" an anchor or step ("5m of fault.healed")."""
    if isinstance(value, bool):
        raise ValueError("a bound is a duration, e.g. '5m' or '5m of fault.healed'")
    if isinstance(value, int | float):
        return f"{value}s"
    if isinstance(value, str):
        amount, _ = split_reference(value)
        check_duration(amount)
    return value


def _event_name(value: str) -> str:
    if not any(name_matches(n, value) for n in CATALOG_NAMES):
        raise ValueError(f"{value!r} names no event of the signature catalog (e.g. apd.start, guest.bsod, host.*)")
    return value


_DURATION_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "minLength": 1}]}
DurationExpr = Annotated[str, BeforeValidator(_duration_expr), WithJsonSchema(_DURATION_SCHEMA)]
BoundExpr = Annotated[str, BeforeValidator(_bound_expr), WithJsonSchema(_DURATION_SCHEMA)]
EventName = Annotated[
    str,
    AfterValidator(_event_name),
    Field(pattern=r"^[a-z][a-z0-9_.*?\[\]-]*$", description="a signature catalog name or a glob (host.*)"),
]
Name = Annotated[str, Field(pattern=NAME_RE)]
FieldValue = str | int | float | bool


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- sections ---------------------------------------------------------------------------------------------


class ScenarioTarget(_Model):
    """What the scenario watches: inventory names of the host, the datastore and the VM."""

    host: Name
    datastore: Name | None = None
    vm: Name | None = None


VERSION_RE = r"^\d+\.\d+(\.\d+)?$"
_REPORTED_VERSION = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?:\.(\d+))?")


def _version_text(value: Any) -> Any:
    """`version: 4.1` unquoted is a YAML number: read it as the text it was written as."""
    return str(value) if isinstance(value, float) and not isinstance(value, bool) else value


class LabRequirement(_Model):
    """What the lab's hosts must be for the scenario to mean anything."""

    version: Annotated[str, BeforeValidator(_version_text), Field(pattern=VERSION_RE)] = Field(
        description="the ESX(i) version the target host must run: '4.1' (ESX classic, a Service Console), '7.0', "
        "'8.0'... A host reporting another version is refused before anything changes; the embedded lab brings up "
        "one lab per version the scenarios ask for"
    )


def version_matches(required: str, reported: str) -> bool:
    """Whether a host reporting `reported` ("VMware ESX 4.1.0 build-260247", "8.0.2", "4.1") runs `required`
    ("4.1", "8.0.2"): the required components equal the reported ones (a missing reported component counts as 0)."""
    m = _REPORTED_VERSION.search(reported)
    if m is None:
        return False
    have = [int(g) if g is not None else 0 for g in m.groups()]
    want = [int(x) for x in required.split(".")]
    return have[: len(want)] == want


if TYPE_CHECKING:
    FaultSpec = FaultSection  # one of the registry's section models, told apart by `kind`
else:
    FaultSpec = section_type()


class StepSpec(BaseModel):
    """Constraints of one expected event. Keys other than the named ones match event fields (code: 0xEF)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, FieldValue] = Field(init=False)

    subject: str | None = None
    vm: str | None = None
    host: str | None = None
    after: str | None = Field(default=None, description="an earlier step (its label or name) or an anchor")
    at_least: BoundExpr | None = None
    within: BoundExpr | None = None
    label: str | None = None

    def as_spec(self) -> dict[str, Any]:
        """The mapping Step.from_spec takes."""
        spec = {k: getattr(self, k) for k in _STEP_KEYS if getattr(self, k) is not None}
        spec.update(self.__pydantic_extra__ or {})
        return spec


class CountSpec(StepSpec):
    """How many events of a name (and constraints) must appear: at least `min`, at most `max`."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> CountSpec:
        if self.min is None and self.max is None:
            raise ValueError("a count needs min or max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def as_spec(self) -> dict[str, Any]:
        spec = super().as_spec()
        spec.pop("min", None)
        spec.pop("max", None)
        return spec


class NeverSpec(_Model):
    """Events that must not appear, optionally only between two anchors."""

    event: EventName
    after: str | None = Field(default=None, description="window start: an anchor")
    before: str | None = Field(default=None, description="window end: an anchor")
    hosts: list[str] | None = None


InOrderItem = Annotated[
    dict[EventName, StepSpec | None],
    Field(min_length=1, max_length=1, description="one event name mapped to its constraints"),
]


class DiagnosisSpec(_Model):
    """A KB diagnosis that triage must reach from the run's own collected logs (faultlab.assertions.diagnose)."""

    kb: int = Field(description="the KB number, e.g. 308590")
    verdict: bool | Literal["unknown"] = Field(default=True, description="true, false or unknown")
    culprit: str | None = Field(default=None, description="the process named, e.g. VMap or $fault.process")


class Expect(_Model):
    """What the logs must show: a sequence, absences, counts and a KB diagnosis."""

    in_order: list[EventName | InOrderItem] = Field(default=[], description="'apd.start' or {apd.start: {...}}")
    never: list[EventName | NeverSpec] = []
    counts: dict[EventName, CountSpec] = {}
    diagnosis: DiagnosisSpec | None = None


class Recover(_Model):
    """Conditions to reach after heal, within a budget."""

    within: DurationExpr
    vm: list[Literal["powered_on", "heartbeat_green", "restarted_at_most_once", "reboots_cleanly"]] = Field(
        default=[],
        description="powered_on, heartbeat_green; restarted_at_most_once (one guest reset after the fault, from "
        "vmware.log); reboots_cleanly (a second guest reboot through Tools, after recovery, does not bugcheck)",
    )
    datastore: list[Literal["accessible"]] = []
    host: list[Literal["connected"]] = []

    @model_validator(mode="after")
    def _something(self) -> Recover:
        if not (self.vm or self.datastore or self.host):
            raise ValueError("recover needs at least one condition (vm, datastore or host)")
        return self


@dataclass(frozen=True, slots=True)
class CountCheck:
    step: Step
    min: int | None
    max: int | None


class Scenario(_Model):
    """One scenario file (see scenarios/ and DESIGN.md)."""

    name: Name
    story: str = Field(min_length=1)
    references: list[str] = []
    target: ScenarioTarget
    fault: FaultSpec
    hold: DurationExpr
    hold_until: list[EventName] = Field(
        default=[],
        description="end the hold early once the live log tail has seen each of these events; `hold` stays the "
        "longest the fault is held",
    )
    expect: Expect
    recover: Recover | None = None
    lab: LabRequirement | None = Field(
        default=None, description="what the lab must be (the host's ESX(i) version); none: any host, 8.0 embedded"
    )

    _source: Source | None = PrivateAttr(default=None)

    @property
    def source(self) -> Source | None:
        return self._source

    def variables(self) -> dict[str, str]:
        """$host, $datastore, $vm for the expectations."""
        return {k: v for k in VARIABLES if (v := getattr(self.target, k)) is not None}

    @property
    def required_version(self) -> str | None:
        return self.lab.version if self.lab is not None else None

    def check_reported_version(self, host: str, reported: str, how: str) -> None:
        """A ConfigError at `lab.version` when the host reports another version than the scenario needs."""
        required = self.required_version
        if required is None or version_matches(required, reported):
            return
        src = self._source or Source("<scenario>", {}, {}, Path.cwd())
        raise ConfigError(
            src.issue(
                ("lab", "version"),
                f"the scenario needs a host running ESX(i) {required}, but host {host!r} reports "
                f"{reported.strip()!r} ({how}); nothing was changed. Run it on a {required} host (the embedded "
                f"lab: `faultlab lab up --version {required}`, or no --lab/--inventory to have one made)",
            )
        )

    def _with_host(self, loc: Loc, settings: Settings, evaluate: Callable[[], T]) -> T:
        """Evaluate with the host's settings; a duration they make unusable is a ConfigError at the scenario's key
        naming the host's values (e.g. "{Misc.APDTimeout}s - 5s" on a lab whose APD timeout is 4 s)."""
        try:
            return evaluate()
        except ValueError as exc:
            src = self._source or Source("<scenario>", {}, {}, Path.cwd())
            values = ", ".join(f"{k} = {v}" for k, v in settings.items()) or "none"
            raise ConfigError(src.issue(loc, f"{exc} (with the host's settings: {values})")) from None

    def hold_for(self, settings: Settings) -> timedelta:
        return self._with_host(("hold",), settings, lambda: parse_duration(self.hold, settings))

    def recover_within(self, settings: Settings) -> timedelta | None:
        if self.recover is None:
            return None
        within = self.recover.within
        return self._with_host(("recover", "within"), settings, lambda: parse_duration(within, settings))

    def in_order_spec(self) -> list[str | dict[str, Any]]:
        """expect.in_order as plain data, the shape assertions' steps_from_spec takes."""
        return [
            item if isinstance(item, str) else {n: (c.as_spec() if c else None) for n, c in item.items()}
            for item in self.expect.in_order
        ]

    def steps(self, settings: Settings) -> list[Step]:
        """expect.in_order as checks.Step values, durations evaluated with the host's settings."""
        spec = self.in_order_spec()
        return self._with_host(
            ("expect", "in_order"),
            settings,
            lambda: steps_from_spec(spec, settings=settings, variables=self.variables()),
        )

    def never_specs(self) -> list[NeverSpec]:
        return [NeverSpec(event=n) if isinstance(n, str) else n for n in self.expect.never]

    def counts(self, settings: Settings) -> list[CountCheck]:
        return self._with_host(
            ("expect", "counts"),
            settings,
            lambda: [
                CountCheck(
                    Step.from_spec(name, c.as_spec(), settings=settings, variables=self.variables()), c.min, c.max
                )
                for name, c in self.expect.counts.items()
            ],
        )

    def check_against(self, inventory: Inventory) -> None:
        """Every name the scenario uses exists in the inventory, and the fault fits what it acts on."""
        src = self._source or Source("<scenario>", {}, {}, Path.cwd())
        issues: list[Issue] = []
        hosts = {h.name for h in inventory.hosts}
        t = self.target
        if t.host not in hosts:
            issues.append(src.issue(("target", "host"), f"no host {t.host!r} in the inventory"))
        if t.datastore is not None and t.datastore not in {d.name for d in inventory.datastores}:
            issues.append(src.issue(("target", "datastore"), f"no datastore {t.datastore!r} in the inventory"))
        if t.vm is not None and t.vm not in {v.name for v in inventory.vms}:
            issues.append(src.issue(("target", "vm"), f"no VM {t.vm!r} in the inventory"))
        if t.host in hosts and self.required_version is not None:
            said = inventory.host(t.host).version
            if said is not None and not version_matches(self.required_version, said):
                issues.append(
                    src.issue(
                        ("lab", "version"),
                        f"the scenario needs a host running ESX(i) {self.required_version}, but the inventory says "
                        f"host {t.host!r} runs {said!r}; run it on a {self.required_version} host",
                    )
                )
        problems = kind_of(self.fault.kind).check(self.fault, inventory)
        issues.extend(src.issue(("fault", *p.loc), p.message) for p in problems)
        raise_if(issues)


# -- semantic checks that need the whole file -------------------------------------------------------------


def _check_expect(sc: Scenario, src: Source) -> list[Issue]:
    issues: list[Issue] = []
    variables = sc.variables()
    seen: list[str] = []
    for i, item in enumerate(sc.in_order_spec()):
        for name, spec in ({item: None} if isinstance(item, str) else item).items():
            loc: Loc = ("expect", "in_order", i, name) if isinstance(item, dict) else ("expect", "in_order", i)
            raw = spec or {}
            try:
                settings = _witness_settings(raw)
                step = Step.from_spec(name, raw, settings=settings, variables=variables)
            except ValueError as exc:
                issues.append(src.issue(loc, str(exc)))
                continue
            if step.after is not None and step.after not in seen and step.after not in ANCHORS:
                known = ", ".join([*seen, *ANCHORS])
                issues.append(
                    src.issue((*loc, "after"), f"{step.after!r} is neither an earlier step nor an anchor ({known})")
                )
            elif step.after is None and not seen and (step.at_least is not None or step.within is not None):
                issues.append(src.issue(loc, "at_least/within on the first step need 'after' (an anchor)"))
            seen.append(step.tag)
    for name, count in sc.expect.counts.items():
        loc = ("expect", "counts", name)
        raw = count.as_spec()
        try:
            settings = _witness_settings(raw)
            step = Step.from_spec(name, raw, settings=settings, variables=variables)
        except ValueError as exc:
            issues.append(src.issue(loc, str(exc)))
            continue
        if step.after is not None and step.after not in ANCHORS:
            issues.append(src.issue((*loc, "after"), f"a count counts from an anchor ({', '.join(ANCHORS)})"))
        elif step.after is None and (step.at_least is not None or step.within is not None):
            issues.append(src.issue(loc, "at_least/within in a count need 'after' (an anchor)"))
    for i, never in enumerate(sc.expect.never):
        if isinstance(never, NeverSpec):
            for key in ("after", "before"):
                anchor = getattr(never, key)
                if anchor is not None and anchor not in ANCHORS:
                    issues.append(
                        src.issue(("expect", "never", i, key), f"{anchor!r} is not an anchor ({', '.join(ANCHORS)})")
                    )
    return issues


def from_source(src: Source) -> Scenario:
    """Validate a parsed scenario; ConfigError lists every problem with file, line and key."""
    sc = src.validate(Scenario)
    raise_if(_check_expect(sc, src))
    sc._source = src
    return sc


def load_scenario(path: str | Path) -> Scenario:
    return from_source(load_yaml(path))


def parse_scenario(text: str, name: str = "<scenario>") -> Scenario:
    return from_source(parse_yaml(text, name))


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema published as schemas/scenario.schema.json."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://faultlab.invalid/schemas/scenario.schema.json"
    return schema
