"""The names the runner, the judge, the reports and compare share: run anchors and recovery condition keys."""

from __future__ import annotations

import enum

# Anchors: instants the harness notes on its own clock, which scenario steps and measures count from.
INJECTED = "fault.injected"  # the fault is in place
HEALED = "fault.healed"  # the fault is healed
REBOOTED = "guest.rebooted"  # the harness asked the guest for the second reboot (recover: reboots_cleanly)
ANCHORS: tuple[str, ...] = (INJECTED, HEALED, REBOOTED)


class ConditionKey(enum.StrEnum):
    """A recovery condition of a scenario's `recover:` section. A recorded condition is named
    "<object kind> <object name> <key>" (e.g. "vm win01 heartbeat_green")."""

    ACCESSIBLE = "accessible"  # datastore
    CONNECTED = "connected"  # host
    POWERED_ON = "powered_on"  # vm
    HEARTBEAT_GREEN = "heartbeat_green"  # vm
    RESTARTED_AT_MOST_ONCE = "restarted_at_most_once"  # vm, judged from vmware.log
    REBOOTS_CLEANLY = "reboots_cleanly"  # vm, judged from vmware.log after the second reboot

    @classmethod
    def of(cls, condition: str) -> ConditionKey | None:
        """The key of a recorded condition name (its last word), None for a name that carries none."""
        word = condition.rsplit(" ", 1)[-1]
        return cls(word) if word in cls._value2member_map_ else None

    @property
    def counted_from(self) -> str:
        """The anchor its time counts from: the second reboot counts from guest.rebooted, the rest from the heal."""
        return REBOOTED if self is ConditionKey.REBOOTS_CLEANLY else HEALED
