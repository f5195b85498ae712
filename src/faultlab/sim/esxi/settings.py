"""Advanced settings of the simulated host: ESXi's option names, descriptions and limits, per timing profile.

Two timing profiles (`faultlab lab up --timing fast|real`):

* ``real``: ESXi's own defaults, minimums and maximums; a value a real host refuses is refused.
* ``fast`` (the default for tests and demos): the same options with lab-scaled defaults and minimums, so a
  scenario takes seconds. Its numbers are NOT a real host's (an APD timeout of 6 s is illegal on ESXi);
  `lab status`, the inventory and the run report say which profile a lab runs.

Descriptions, defaults and limits are ESXi 7.0U3/8.0U3's, from William Lam's per-build dumps of every
advanced setting taken from real hosts (github.com/lamw/esxi-advanced-and-kernel-settings,
esxi-70u3d-advanced-settings.md and esxi-80u3-advanced-settings.md; quoted in
reference/esxcli/SOURCES.md). Misc.APDTimeout's minimum 20 is also the vSphere 7.0 Storage guide's
(GUID-5CC5A990); its maximum there reads 99999, the host's own dump 999999 (the host is followed).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

TimingProfile = Literal["fast", "real"]
TIMING_PROFILES: tuple[TimingProfile, ...] = ("fast", "real")


def timing_profile(value: str) -> TimingProfile:
    """'fast' / 'real' as a TimingProfile; ValueError naming the allowed values otherwise."""
    if value == "fast":
        return "fast"
    if value == "real":
        return "real"
    raise ValueError(f"timing profile must be one of {', '.join(TIMING_PROFILES)}, not {value!r}")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One advanced option: ESXi's default, limits and description, plus the fast profile's scaled ones."""

    path: str  # "/Misc/APDTimeout"
    kind: str  # "integer" | "string"
    default: int | str  # ESXi's default (the real profile)
    minimum: int
    maximum: int
    description: str  # ESXi's text, verbatim
    fast_default: int | str | None = None  # lab-scaled default (None: as ESXi)
    fast_minimum: int | None = None  # lab-scaled minimum (None: as ESXi)

    def default_for(self, timing: TimingProfile) -> int | str:
        return self.default if timing == "real" or self.fast_default is None else self.fast_default

    def minimum_for(self, timing: TimingProfile) -> int:
        return self.minimum if timing == "real" or self.fast_minimum is None else self.fast_minimum


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("/Misc/APDHandlingEnable", "integer", 1, 0, 1, "Enable Storage APD Handling."),
    OptionSpec(
        "/Misc/APDTimeout",
        "integer",
        140,
        20,
        999999,
        "Number of seconds a device can be in APD before failing User World I/O.",
        fast_default=6,
        fast_minimum=1,
    ),
    OptionSpec(
        "/NFS/HeartbeatFrequency",
        "integer",
        12,
        5,
        86400,
        "Time in seconds between heartbeats",
        fast_default=2,
        fast_minimum=1,
    ),
    OptionSpec(
        "/NFS/HeartbeatTimeout",
        "integer",
        5,
        3,
        30,
        "Time in seconds before an outstanding heartbeat is stopped",
        fast_default=1,
        fast_minimum=1,
    ),
    OptionSpec(
        "/NFS/HeartbeatMaxFailures",
        "integer",
        10,
        6,
        10,
        "Number of sequential failures before a volume is marked down",
        fast_default=3,
        fast_minimum=1,
    ),
    OptionSpec(
        "/NFS/HeartbeatDelta",
        "integer",
        5,
        3,
        30,
        "Time in seconds since the last successful update before a heartbeat is sent",
        fast_default=1,
        fast_minimum=1,
    ),
    OptionSpec(
        "/Disk/AutoremoveOnPDL", "integer", 1, 0, 1, "Autoremove paths to a disk that is in PDL (Permanent Device Loss)"
    ),
)


def option_path(name: str) -> str:
    """'Misc.APDTimeout' or '/Misc/APDTimeout' or 'Misc/APDTimeout' -> '/Misc/APDTimeout'."""
    name = name.strip()
    if not name.startswith("/"):
        name = "/" + name.replace(".", "/", 1)
    return name


class SettingError(ValueError):
    """An unknown option or a value esxcli would refuse; the message is what esxcli prints."""


class Settings:
    """Thread-safe option store: the state machines read it on every decision, esxcli writes it."""

    def __init__(self, overrides: Mapping[str, int | str] | None = None, timing: TimingProfile = "fast") -> None:
        self.timing = timing
        self._specs = {spec.path: spec for spec in OPTIONS}
        self._values: dict[str, int | str] = {spec.path: spec.default_for(timing) for spec in OPTIONS}
        self._lock = threading.Lock()
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def spec(self, name: str) -> OptionSpec:
        path = option_path(name)
        try:
            return self._specs[path]
        except KeyError:
            raise SettingError(f"Unable to find option {path.rsplit('/', 1)[-1]}") from None

    def get(self, name: str) -> int | str:
        spec = self.spec(name)
        with self._lock:
            return self._values[spec.path]

    def integer(self, name: str) -> int:
        value = self.get(name)
        if not isinstance(value, int):
            raise SettingError(f"Option {option_path(name)} is not an integer option")
        return value

    def set(self, name: str, value: int | str) -> None:
        spec = self.spec(name)
        if spec.kind == "integer":
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise SettingError(f"Invalid value {value!r} for integer option {spec.path}") from None
            low = spec.minimum_for(self.timing)
            if not low <= number <= spec.maximum:
                # esxcli's wording for an out-of-range value was not found ([U]); the limits are ESXi's.
                raise SettingError(
                    f"Unable to set option {spec.path}: value {number} is outside the range [{low}, {spec.maximum}]"
                )
            stored: int | str = number
        else:
            stored = str(value)
        with self._lock:
            self._values[spec.path] = stored

    def paths(self) -> list[str]:
        return sorted(self._specs)

    def as_dict(self) -> dict[str, int | str]:
        with self._lock:
            return dict(self._values)

    def fields(self, name: str) -> list[tuple[str, str]]:
        """The option's record as `esxcli system settings advanced list -o` names its fields, in order."""
        return option_fields(self.spec(name), self.get(name), self.timing)


def option_fields(spec: OptionSpec, value: int | str, timing: TimingProfile = "fast") -> list[tuple[str, str]]:
    """Field order of ESXi 7.0/8.0 (govmomi's command_info.go, generated from a real host: Path, Type, Int Value,
    Default Int Value, Min Value, Max Value, String Value, Default String Value, Valid Characters, Description,
    Host Specific, Impact)."""
    is_int = spec.kind == "integer"
    default = spec.default_for(timing)
    return [
        ("Path", spec.path),
        ("Type", spec.kind),
        ("Int Value", str(value) if is_int else "0"),
        ("Default Int Value", str(default) if is_int else "0"),
        ("Min Value", str(spec.minimum_for(timing))),
        ("Max Value", str(spec.maximum)),
        ("String Value", "" if is_int else str(value)),
        ("Default String Value", "" if is_int else str(default)),
        ("Valid Characters", ""),
        ("Description", spec.description),
        ("Host Specific", "false"),
        ("Impact", "none"),
    ]


def format_option(spec: OptionSpec, value: int | str, timing: TimingProfile = "fast") -> str:
    """One option block as `esxcli system settings advanced list -o <path>` prints it (reference/esxcli/
    advanced.4.txt: three-space indent, `Key: Value`)."""
    return "\n".join(f"   {key}: {val}" for key, val in option_fields(spec, value, timing)) + "\n"
