"""Scenario steps: what one expected event must look like, built from a scenario's expect block."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from faultlab.assertions.durations import Settings, format_bound, parse_duration, settings_in, split_reference
from faultlab.assertions.timeline import Entry, format_value, name_matches, text_matches


@dataclass(frozen=True)
class Step:
    """One expected event of a sequence.

    `after` names an earlier step's label or an anchor; `at_least` / `within` bound the delay from it
    (when `after` is None they count from the previous step). `fields` values match exactly, numbers
    numerically (0xEF == "0xEF"), strings as globs. `why_at_least` / `why_within` say where a bound came
    from ("Misc.APDTimeout") and are shown in messages.
    """

    name: str
    subject: str | None = None
    vm: str | None = None
    host: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)
    after: str | None = None
    at_least: timedelta | None = None
    within: timedelta | None = None
    label: str | None = None
    why_at_least: str | None = None
    why_within: str | None = None

    @property
    def tag(self) -> str:
        return self.label or self.name

    @property
    def timed(self) -> bool:
        return self.after is not None or self.at_least is not None or self.within is not None

    def describe(self) -> str:
        parts: list[str] = []
        if self.subject:
            parts.append(f"subject={self.subject}")
        if self.vm:
            parts.append(f"vm={self.vm}")
        if self.host:
            parts.append(f"host={self.host}")
        parts.extend(f"{k}={format_value(k, v)}" for k, v in self.fields.items())
        ref = self.after or "previous step"
        if self.at_least is not None:
            parts.append(f">={format_bound(self.at_least)} after {ref}")
        if self.within is not None:
            parts.append(f"<={format_bound(self.within)} after {ref}")
        if self.after and self.at_least is None and self.within is None:
            parts.append(f"after {self.after}")
        label = f"{self.label}=" if self.label and self.label != self.name else ""
        return f"{label}{self.name}" + (f"{{{', '.join(parts)}}}" if parts else "")

    @classmethod
    def from_spec(
        cls,
        name: str,
        spec: Mapping[str, Any] | None = None,
        *,
        settings: Settings | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Step:
        """Build a step from a scenario's `expect.in_order` item, e.g.
        ``Step.from_spec("guest.bsod", {"vm": "$vm", "code": 0xEF, "within": "5m of fault.healed"}, ...)``.

        Keys subject/vm/host/after/at_least/within/label are constraints; any other key is a field match.
        "$name" values are replaced from `variables`. Raises ValueError naming the step and the key.
        """
        spec = dict(spec or {})
        where = f"step {name!r}"

        def subst(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("$"):
                if variables is None or value[1:] not in variables:
                    raise ValueError(f"{where}: unknown variable {value!r}")
                return variables[value[1:]]
            return value

        after = spec.pop("after", None)
        bounds: dict[str, tuple[timedelta, str | None]] = {}
        for key in ("at_least", "within"):
            if key not in spec:
                continue
            raw = spec.pop(key)
            why: str | None = None
            if isinstance(raw, str):
                amount, ref = split_reference(raw)
                if ref is not None:
                    if after is not None and after != ref:
                        raise ValueError(f"{where}: {key} counts from {ref!r} but after is {after!r}")
                    after = ref
                names = settings_in(amount)
                why = ", ".join(names) if names else None
                raw = amount
            try:
                bounds[key] = (parse_duration(raw, settings), why)
            except ValueError as exc:
                raise ValueError(f"{where}: {key}: {exc}") from None
        nested = spec.pop("fields", None) or {}
        if not isinstance(nested, Mapping):
            raise ValueError(f"{where}: fields must be a mapping, got {nested!r}")
        spec.update(nested)
        text_keys = {k: spec.pop(k, None) for k in ("subject", "vm", "host", "label")}
        for k, v in text_keys.items():
            if v is not None and not isinstance(v, str):
                raise ValueError(f"{where}: {k} must be text, got {v!r}")
        return cls(
            name=name,
            subject=subst(text_keys["subject"]),
            vm=subst(text_keys["vm"]),
            host=subst(text_keys["host"]),
            fields={k: subst(v) for k, v in spec.items()},
            after=subst(after) if after is not None else None,
            at_least=bounds["at_least"][0] if "at_least" in bounds else None,
            within=bounds["within"][0] if "within" in bounds else None,
            label=text_keys["label"],
            why_at_least=bounds["at_least"][1] if "at_least" in bounds else None,
            why_within=bounds["within"][1] if "within" in bounds else None,
        )


def steps_from_spec(
    items: Sequence[str | Mapping[str, Any]],
    *,
    settings: Settings | None = None,
    variables: Mapping[str, str] | None = None,
) -> list[Step]:
    """Steps from a scenario's `expect.in_order` list: "apd.start" or {"apd.timeout": {...}} items."""
    steps: list[Step] = []
    for n, item in enumerate(items, 1):
        if isinstance(item, str):
            steps.append(Step.from_spec(item, None, settings=settings, variables=variables))
            continue
        if not isinstance(item, Mapping) or len(item) != 1:
            raise ValueError(f"in_order item {n}: expected 'name' or {{name: {{...}}}}, got {item!r}")
        ((name, spec),) = item.items()
        if spec is not None and not isinstance(spec, Mapping):
            raise ValueError(f"in_order item {n} {name}: constraints must be a mapping, got {spec!r}")
        steps.append(Step.from_spec(str(name), spec, settings=settings, variables=variables))
    return steps


# -- matching an event against a step ------------------------------------------------------------------


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(int(value, 0))
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def field_matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return text_matches(actual, expected)
    a, e = _numeric(actual), _numeric(expected)
    if a is not None and e is not None and not isinstance(expected, bool):
        return a == e
    return bool(actual == expected)


def field_diffs(step: Step, entry: Entry) -> list[str]:
    diffs = []
    for key, want in step.fields.items():
        if key not in entry.event.fields:
            diffs.append(f"no {key} (expected {key}={format_value(key, want)})")
        elif not field_matches(entry.event.fields[key], want):
            got = format_value(key, entry.event.fields[key])
            diffs.append(f"{key}={got}, expected {key}={format_value(key, want)}")
    return diffs


def identity_ok(step: Step, entry: Entry) -> bool:
    ev = entry.event
    if not name_matches(ev.name, step.name):
        return False
    if step.subject is not None:
        # the subject as logged, or the datastore a judge named for it (volume UUIDs and device ids in APD lines)
        ds_field = ev.fields.get("datastore")
        ds_text = ds_field if isinstance(ds_field, str) else None
        if not (text_matches(ev.subject, step.subject) or text_matches(ds_text, step.subject)):
            return False
    if step.host is not None and not text_matches(ev.host, step.host):
        return False
    if step.vm is not None:
        vm_field = ev.fields.get("vm")
        vm_text = vm_field if isinstance(vm_field, str) else None
        if not (text_matches(ev.subject, step.vm) or text_matches(vm_text, step.vm)):
            return False
    return True
