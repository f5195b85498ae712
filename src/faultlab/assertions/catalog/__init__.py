"""The signature catalog: ESXi log lines -> named events, one module per log kind; prefilter; twin linking."""

from __future__ import annotations

from faultlab.assertions.catalog.base import Sample, Signature
from faultlab.assertions.catalog.builder import EventBuilder, events_from_lines, link_twins
from faultlab.assertions.catalog.registry import GREP_UNION, PREFILTER, SIGNATURES, signatures_for

__all__ = [
    "GREP_UNION",
    "PREFILTER",
    "SIGNATURES",
    "EventBuilder",
    "Sample",
    "Signature",
    "events_from_lines",
    "link_twins",
    "signatures_for",
]
