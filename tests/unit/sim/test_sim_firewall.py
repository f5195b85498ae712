"""Unit tests of the root-namespace FORWARD rule decision and tag parsing (faultlab.sim.kernel.firewall)."""

from __future__ import annotations

from faultlab.sim.kernel.firewall import forward_needs_rule, forward_rule, tagged_rules


def test_rule_needed_only_when_bridged_traffic_meets_a_non_accepting_forward_chain() -> None:
    assert forward_needs_rule("1\n", "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n")
    assert not forward_needs_rule("0\n", "-P FORWARD DROP\n")
    assert not forward_needs_rule("1\n", "-P FORWARD ACCEPT\n")


def test_tagged_rules_round_trip_from_iptables_s() -> None:
    rule = forward_rule("fl0a1b", "fl0a1b-br")
    listing = (
        "-P FORWARD DROP\n"
        '-A FORWARD -i fl0a1b-br -o fl0a1b-br -m comment --comment "faultlab:fl0a1b" -j ACCEPT\n'
        "-A FORWARD -i docker0 -j ACCEPT\n"
    )
    assert tagged_rules(listing) == [("fl0a1b", rule)]
