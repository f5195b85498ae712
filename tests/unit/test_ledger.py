"""The ledger: durable atomic writes, record-before-apply semantics, clean close, state folder, live owners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from faultlab.harness.ledger import Ledger, default_state_dir, ledger_files

FAULT = {"kind": "service-stop", "node": "nfs01", "run_id": "r1", "fault_id": "f1", "deadline_s": 3.0, "params": {}}


def test_record_is_on_disk_at_once_and_round_trips(tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path, inventory="/lab/inv.yaml")
    ledger.record(FAULT)
    on_disk = json.loads((tmp_path / "r1.json").read_text())
    assert on_disk["entries"][0]["state"] == "pending" and on_disk["entries"][0]["fault"] == FAULT
    ledger.update("f1", state="active", timer_node="nfs01", timer_pid=42)
    again = Ledger.load(ledger.path)
    assert (again.run_id, again.inventory, again.owner_pid) == ("r1", "/lab/inv.yaml", os.getpid())
    assert again.owner_start is not None and again.owner_start == ledger.owner_start
    assert again.entries[0].state == "active" and again.entries[0].timer_pid == 42
    assert ledger.record(FAULT) is ledger.entries[0]  # recording twice keeps one entry
    assert len(Ledger.load(ledger.path).entries) == 1


def test_a_failed_write_leaves_the_previous_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger.create("r1", tmp_path)
    ledger.record(FAULT)
    before = ledger.path.read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        ledger.update("f1", state="active")
    assert ledger.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r1.json"]


def test_writes_are_fsynced_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync")
        real_fsync(fd)

    def replace(a: str, b: str) -> None:
        calls.append("replace")
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    Ledger.create("r1", tmp_path)
    assert calls == ["fsync", "replace", "fsync"]  # file, rename, folder


def test_close_removes_only_when_everything_is_healed(tmp_path: Path) -> None:
    ledger = Ledger.create("r1", tmp_path)
    ledger.record(FAULT)
    assert ledger.close() is False and ledger.path.exists()
    ledger.update("f1", state="healed")
    assert ledger.open_entries() == []
    assert ledger.close() is True and not ledger.path.exists()
    with pytest.raises(KeyError):
        ledger.update("nope", state="healed")


def test_owner_alive_and_listing(tmp_path: Path) -> None:
    mine = Ledger.create("a", tmp_path)
    assert mine.owner_alive()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = Ledger.create("b", tmp_path)
    dead.owner_pid = proc.pid
    assert not dead.owner_alive()
    dead.owner_pid, dead.owner_start = os.getpid(), (mine.owner_start or 0) + 1  # our pid, reused: not us
    assert not dead.owner_alive()
    dead.owner_host = "elsewhere"
    dead.owner_pid = os.getpid()
    assert not dead.owner_alive()  # a pid on another machine says nothing here
    (tmp_path / ".a.json.tmp").write_text("{")  # temp files are not ledgers
    assert {p.name for p in ledger_files(tmp_path)} == {"a.json", "b.json"}
    assert list(ledger_files(tmp_path / "absent")) == []


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"version": 99, "run_id": "x"}))
    with pytest.raises(ValueError, match="unknown ledger version 99"):
        Ledger.load(path)


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_state_dir() == Path("/var/lib/faultlab/ledger")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "faultlab" / "ledger"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / ".local" / "state" / "faultlab" / "ledger"


def test_faultlab_heal_without_ledgers_and_with_a_broken_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from faultlab.harness.cli.heal import heal_app

    empty = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path)])
    assert empty.exit_code == 0 and empty.output.startswith(f"nothing to heal: no ledger in {tmp_path}")
    (tmp_path / "bad.json").write_text("{not json")
    Ledger.create("noinv", tmp_path).record(FAULT)
    broken = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path)])
    assert broken.exit_code == 1
    out = broken.output.splitlines()
    assert len(out) == 2 and all(line.startswith("failed ") for line in out)
    assert any("bad.json: unreadable ledger" in line for line in out)
    assert any("noinv.json: the ledger names no inventory; give --inventory" in line for line in out)
    assert (tmp_path / "noinv.json").exists()  # nothing healed: the ledger stays
