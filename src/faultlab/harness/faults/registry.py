"""The fault kinds faultlab knows: one line per kind. The scenario schema, its validation and the planning all
read this table; a new kind is one module under kinds/ and one line here."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from faultlab.harness.faults.kinds import (
    esxi_path_off,
    lun_remove,
    memory_leak,
    network,
    process_freeze,
    service_stop,
)
from faultlab.harness.faults.kinds.base import FaultKind, FaultSection

KINDS: dict[str, FaultKind[Any, Any]] = {
    kind.name: kind
    for kind in (
        network.BLACKHOLE,
        network.REJECT,
        service_stop.KIND,
        process_freeze.KIND,
        lun_remove.KIND,
        esxi_path_off.KIND,
        memory_leak.KIND,
    )
}
FAULT_KINDS: tuple[str, ...] = tuple(KINDS)


def kind_of(name: str) -> FaultKind[Any, Any]:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown fault kind {name!r} (known: {', '.join(FAULT_KINDS)})") from None


def section_type() -> Any:
    """The scenario's `fault:` type: the kinds' sections as a union told apart by `kind`."""
    sections = tuple(k.section for k in KINDS.values())
    return Annotated[Union[sections], Field(discriminator="kind")]  # noqa: UP007 (a runtime tuple of types)


@cache
def _adapter() -> TypeAdapter[FaultSection]:
    return TypeAdapter(section_type())


def parse_section(data: Mapping[str, Any]) -> FaultSection:
    """A `fault:` section from plain data (tests, the API); pydantic's ValidationError on mistakes."""
    return _adapter().validate_python(dict(data))
