"""Every kind of log line the simulated host writes, each with the real line it imitates (one namespace)."""

# Writers import their kinds from here; tests/unit/sim/test_log_fidelity.py checks every registered kind.

from faultlab.sim.esxi.logs.kinds_guest import *  # noqa: F403
from faultlab.sim.esxi.logs.kinds_ssh import *  # noqa: F403
from faultlab.sim.esxi.logs.kinds_vmkernel import *  # noqa: F403
from faultlab.sim.esxi.logs.kinds_vobd import *  # noqa: F403
from faultlab.sim.esxi.logs.linekind import CONTINUATION_80, HEADER_SAMPLES, HEADERS, KINDS, LineKind

__all__ = ["CONTINUATION_80", "HEADERS", "HEADER_SAMPLES", "KINDS", "LineKind"]
