"""Unit tests of `faultlab lab` without root: one line, exit code 2 (faultlab.harness.cli.lab)."""

from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from faultlab.harness.cli import lab as cli_lab


@pytest.mark.parametrize("args", [["up"], ["down", "--all"], ["status"]])
def test_without_root_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = CliRunner().invoke(cli_lab.lab_app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["faultlab lab needs root (network namespaces, iptables): run `sudo faultlab lab up`"]


def test_missing_packages_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda program, path=None: None)
    result = CliRunner().invoke(cli_lab.lab_app, ["up"])
    assert result.exit_code == 2
    assert "tgt" in result.output and "nfs-ganesha" in result.output and "make setup" in result.output


def test_bad_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli_lab.lab_app, ["up", "--version", "6.5"])
    assert result.exit_code != 0 and "7.0, 8.0 or 4.1" in result.output


def test_timing_real_refuses_what_a_real_host_refuses_before_building(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # nothing may be built: the setting is refused first
    result = CliRunner().invoke(cli_lab.lab_app, ["up", "--timing", "real", "--setting", "Misc.APDTimeout=6"])
    assert result.exit_code == 1 and "--timing real" in result.output and "[20, 999999]" in result.output
    result = CliRunner().invoke(cli_lab.lab_app, ["up", "--timing", "slow"])
    assert result.exit_code != 0 and "fast or real" in result.output
