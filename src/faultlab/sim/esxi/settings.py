"""Advanced settings of the simulated host: real ESXi option names, lab-scaled defaults, esxcli semantics."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One advanced option as `esxcli system settings advanced list -o` describes it."""

    path: str  # "/Misc/APDTimeout"
    kind: str  # "integer" | "string"
    default: int | str
    minimum: int = 0
    maximum: int = 0
    description: str = ""
    real_default: int | str | None = None  # the ESXi default, for the record (the lab's is scaled)


# Lab-scaled defaults so a scenario takes seconds; the ESXi defaults are kept in real_default.
OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("/Misc/APDHandlingEnable", "integer", 1, 0, 1, "Enable All-Paths-Down (APD) handling", 1),
    OptionSpec("/Misc/APDTimeout", "integer", 6, 1, 99999, "Timeout value (in seconds) for APD Timeout", 140),
    OptionSpec("/NFS/HeartbeatFrequency", "integer", 2, 1, 86400, "Time in seconds between heartbeats", 12),
    OptionSpec(
        "/NFS/HeartbeatTimeout", "integer", 1, 1, 30, "Time in seconds before an outstanding heartbeat is stopped", 5
    ),
    OptionSpec(
        "/NFS/HeartbeatMaxFailures",
        "integer",
        3,
        1,
        10,
        "Number of sequential failures before a volume is marked down",
        10,
    ),
    OptionSpec(
        "/NFS/HeartbeatDelta",
        "integer",
        1,
        1,
        3600,
        "Time in seconds since the last successful update before sending a heartbeat",
        5,
    ),
    OptionSpec(
        "/Disk/AutoremoveOnPDL",
        "integer",
        1,
        0,
        1,
        "Autoremove paths to a disk that is in PDL (Permanent Device Loss)",
        1,
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

    def __init__(self, overrides: Mapping[str, int | str] | None = None) -> None:
        self._specs = {spec.path: spec for spec in OPTIONS}
        self._values: dict[str, int | str] = {spec.path: spec.default for spec in OPTIONS}
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
            if not spec.minimum <= number <= spec.maximum:
                raise SettingError(
                    f"Unable to set option {spec.path}: value {number} is outside the range "
                    f"[{spec.minimum}, {spec.maximum}]"
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


def format_option(spec: OptionSpec, value: int | str) -> str:
    """One option block as ESXi 7.0/8.0 `esxcli system settings advanced list -o <path>` prints it."""
    is_int = spec.kind == "integer"
    rows = [
        ("Path", spec.path),
        ("Type", spec.kind),
        ("Int Value", str(value) if is_int else "0"),
        ("Default Int Value", str(spec.default) if is_int else "0"),
        ("Min Value", str(spec.minimum)),
        ("Max Value", str(spec.maximum)),
        ("String Value", "" if is_int else str(value)),
        ("Default String Value", "" if is_int else str(spec.default)),
        ("Valid Characters", ""),
        ("Description", spec.description),
        ("Host Specific", "false"),
        ("Impact", "none"),
    ]
    return "\n".join(f"   {key}: {val}" for key, val in rows) + "\n"
