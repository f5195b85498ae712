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
    orphan = Ledger.create("noinv", tmp_path)
    orphan.owner_pid = _dead_pid()  # a crashed run's ledger: a live one would be left alone
    orphan.record(FAULT)
    broken = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path)])
    assert broken.exit_code == 1
    out = broken.output.splitlines()
    assert len(out) == 2 and all(line.startswith("failed ") for line in out)
    assert any("bad.json: unreadable ledger" in line for line in out)
    assert any("noinv.json: the ledger names no inventory; give --inventory" in line for line in out)
    assert (tmp_path / "noinv.json").exists()  # nothing healed: the ledger stays


# -- issue 11 items 2 and 4: `faultlab heal` leaves live runs alone, closes ledgers of labs that are gone -----


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _ledger_of(state: Path, run_id: str, owner: int, inventory: str) -> Ledger:
    """A ledger as a run writes it, owned by process `owner`, with one fault applied."""
    ledger = Ledger.create(run_id, state, inventory=inventory)
    ledger.owner_pid, ledger.owner_start = owner, None
    ledger.record({**FAULT, "run_id": run_id})
    ledger.update("f1", state="active")
    return ledger


def test_heal_leaves_a_live_run_alone_unless_forced(tmp_path: Path) -> None:
    """The owner is a real live process other than this one; without --force nothing is touched (the inventory
    does not even exist: reaching for the lab would fail), with --force the heal is attempted."""
    from typer.testing import CliRunner

    from faultlab.harness.cli.heal import heal_app

    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        ledger = _ledger_of(tmp_path, "live-run", live.pid, str(tmp_path / "no-such-inventory.yaml"))
        before = ledger.path.read_bytes()
        res = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path)])
        assert res.exit_code == 0, res.output
        assert res.output.startswith(f"left alone     {ledger.path}: run live-run is live (pid {live.pid})")
        assert "faults (f1); --force heals them now" in res.output
        assert ledger.path.read_bytes() == before  # not touched
        forced = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path), "--force"])
        assert forced.exit_code == 1 and forced.output.startswith(f"failed         {ledger.path}: ")
        assert "no-such-inventory.yaml" in forced.output  # it did try to reach the lab
    finally:
        live.kill()
        live.wait()
    after = CliRunner().invoke(heal_app, ["--state-dir", str(tmp_path)])
    assert after.exit_code == 1 and after.output.startswith("failed ")  # owner gone: heal it (here: it cannot)


def test_a_ledger_of_a_lab_taken_down_is_closed_with_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from faultlab.harness.cli import heal as cli_heal

    root = tmp_path / "run-faultlab"
    (root / "labup").mkdir(parents=True)
    (root / "labup" / "inventory.yaml").write_text("version: 1\n")
    monkeypatch.setattr(cli_heal, "EMBEDDED_STATE_ROOT", root)
    state = tmp_path / "ledger"
    gone = _ledger_of(state, "orphan", _dead_pid(), str(root / "labgone" / "inventory.yaml"))
    real = _ledger_of(state, "real", _dead_pid(), str(tmp_path / "moved-real-inventory.yaml"))
    res = CliRunner().invoke(cli_heal.heal_app, ["--state-dir", str(state)])
    lines = res.output.splitlines()
    assert f"closed         {gone.path}: run orphan: lab labgone no longer exists; nothing left to heal" in lines
    assert not gone.path.exists()
    # a real lab's ledger whose inventory moved keeps failing: its fault may still be on the lab
    assert any(line.startswith(f"failed         {real.path}: ") for line in lines) and real.path.exists()
    assert res.exit_code == 1
    assert cli_heal.embedded_lab_gone(str(root / "labup" / "inventory.yaml")) is None
    assert cli_heal.embedded_lab_gone(str(root / "labgone" / "inventory.yaml")) == "labgone"


def test_close_gone_marks_the_entries_before_removing_the_file(tmp_path: Path) -> None:
    ledger = _ledger_of(tmp_path, "r9", _dead_pid(), "/run/faultlab/x/inventory.yaml")
    seen: list[dict[str, object]] = []
    real_close = ledger.close

    def spy() -> bool:
        seen.append(json.loads(ledger.path.read_text()))
        return real_close()

    ledger.close = spy  # type: ignore[method-assign]
    ledger.close_gone("lab x no longer exists")
    entry = seen[0]["entries"][0]  # type: ignore[index]
    assert (entry["state"], entry["note"]) == ("gone", "lab x no longer exists")
    assert not ledger.path.exists()


def test_live_runs_on_names_only_live_owners_of_that_inventory(tmp_path: Path) -> None:
    from faultlab.harness.ledger import live_runs_on

    inv = tmp_path / "inv.yaml"
    inv.write_text("")
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _ledger_of(tmp_path / "s", "mine", live.pid, str(inv))
        _ledger_of(tmp_path / "s", "dead", _dead_pid(), str(inv))
        _ledger_of(tmp_path / "s", "other", live.pid, str(tmp_path / "other.yaml"))
        assert [led.run_id for led in live_runs_on(tmp_path / "." / "inv.yaml", tmp_path / "s")] == ["mine"]
    finally:
        live.kill()
        live.wait()
    assert live_runs_on(inv, tmp_path / "s") == []
