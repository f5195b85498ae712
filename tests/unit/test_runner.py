"""Runner pieces without a lab: run record, offline judge (skew, anchors, failures), recovery probes against a
fake SSH boundary, signal handling, a lab problem as outcome "error", and the run/judge commands' errors."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from faultlab.harness.cli import app
from faultlab.harness.judge import judge
from faultlab.harness.judgement import Failure, Verdict
from faultlab.harness.record import LogFile, Recovery, RunRecord, iso, load_record, save_record
from faultlab.harness.recovery import Probe, datastore_accessible, vm_heartbeat_green, vm_powered_on, wait_conditions
from faultlab.harness.runner import RunOptions, run_scenario, scenario_settings
from faultlab.harness.scenario import parse_scenario
from faultlab.harness.signals import Terminated, shielded, sigterm_as_interrupt
from faultlab.lab.errors import UnreachableError
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import parse_inventory
from faultlab.lab.ssh import CommandResult

T0 = datetime(2026, 5, 7, 16, 0, 0, tzinfo=UTC)
DEV = "mpx.vmhba32:C0:T0:L0"
# vobd lines as ESXi writes them (reference/log-samples/vobd.log.txt), with real timestamps put in.
VOBD = {
    "start": "[APDCorrelator] 1960326656825us: [vob.storage.apd.start] Device or filesystem with identifier "
    f"[{DEV}] has entered the All Paths Down state.",
    "timeout": "[APDCorrelator] 1960466657332us: [vob.storage.apd.timeout] Device or filesystem with identifier "
    f"[{DEV}] has entered the All Paths Down Timeout state after being in the All Paths Down state for 140 "
    "seconds. I/Os will now be fast failed.",
    "exit": "[APDCorrelator] 1960526657332us: [vob.storage.apd.exit] Device or filesystem with identifier "
    f"[{DEV}] has exited the All Paths Down state.",
}
SCENARIO = """\
name: iscsi-apd
story: a test
target: {host: esx01, datastore: ds-iscsi01}
fault: {kind: network-blackhole, on: iscsi01}
hold: "{Misc.APDTimeout}s + 60s"
expect:
  in_order:
    - apd.start: {after: fault.injected}
    - apd.timeout: {after: apd.start, at_least: "{Misc.APDTimeout}s"}
    - apd.exit: {after: fault.healed}
  never: [pdl]
recover: {within: 10m, datastore: [accessible]}
"""
INVENTORY = """\
version: 1
kind: real
ssh: {user: root, private_key: key, known_hosts: kh}
hosts: [{name: esx01, address: 198.18.9.11}]
storage_targets:
  - {name: iscsi01, kind: iscsi, address: 198.18.9.31, allow_faults: true, ports: {iscsi: 3260},
     service: {start: "s start", stop: "s stop"}}
datastores: [{name: ds-iscsi01, type: vmfs, target: iscsi01, hosts: [esx01], naa_id: "naa.600"}]
vms: [{name: win01, host: esx01, datastore: ds-iscsi01, vmx_path: "[ds-iscsi01] win01/win01.vmx"}]
"""


def vobd_line(at: datetime, which: str) -> str:
    return f"{at.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z: {VOBD[which]}"


def make_record(tmp_path: Path, host_ahead_s: float = 0.0, times: tuple[int, int, int] = (5, 146, 200)) -> RunRecord:
    """A finished run: fault injected at T0, healed at T0+190 s; the host's clock runs `host_ahead_s` ahead."""
    lines = [
        vobd_line(T0 + timedelta(seconds=s + host_ahead_s), w)
        for s, w in zip(times, ("start", "timeout", "exit"), strict=True)
    ]
    rel = "logs/esx01/var/run/log/vobd.log"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text("\n".join(lines) + "\n")
    rec = RunRecord("r1", "iscsi-apd", None, SCENARIO, None, iso(T0))
    rec.settings = {"Misc.APDTimeout": 140.0}
    rec.skews = {"esx01": {"offset_s": host_ahead_s, "uncertainty_s": 0.01}}
    rec.anchors = {"fault.injected": iso(T0), "fault.healed": iso(T0 + timedelta(seconds=190))}
    rec.logs = [LogFile("esx01", "/var/run/log/vobd.log", rel, (tmp_path / rel).stat().st_size)]
    rec.recovery = [Recovery("datastore ds-iscsi01 accessible", True, 4.0, 600.0)]
    return rec


# -- record -----------------------------------------------------------------------------------------------


def test_record_round_trips_and_is_written_atomically(tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    ph = rec.begin("preflight")
    ph.started, ph.ended = iso(T0), iso(T0 + timedelta(seconds=2))
    path = save_record(rec, tmp_path)
    again, folder = load_record(tmp_path)
    assert folder == tmp_path and again == rec and again.phases[0].seconds == 2.0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert path.name == "record.json"


def test_load_record_rejects_what_is_not_a_record(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON run record"):
        load_record(tmp_path / "x.json")
    (tmp_path / "y.json").write_text('{"version": 99}')
    with pytest.raises(ValueError, match="unknown run record version 99"):
        load_record(tmp_path / "y.json")


# -- judge ------------------------------------------------------------------------------------------------


def test_judge_passes_a_run_that_matches(tmp_path: Path) -> None:
    result = judge(make_record(tmp_path), tmp_path)
    assert result.verdict is Verdict.TRUE, result.message
    assert [c.verdict for c in result.checks] == [Verdict.TRUE] * 3
    assert [e.name for e in result.events] == ["apd.start", "apd.timeout", "apd.exit"]


def test_judge_corrects_the_hosts_clock_skew(tmp_path: Path) -> None:
    # The host's clock is 30 s behind: it writes apd.start at T0-25 s although it came 5 s after the inject.
    rec = make_record(tmp_path, host_ahead_s=-30.0)
    assert judge(rec, tmp_path).verdict is Verdict.TRUE
    rec.skews = {}  # without the skew the start seems to precede the fault
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.FALSE and "apd.start" in result.message


def test_judge_fails_naming_the_step_too_early(tmp_path: Path) -> None:
    rec = make_record(tmp_path, times=(5, 100, 200))  # timeout 95 s after start, Misc.APDTimeout is 140
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.FALSE
    assert "step 2 apd.timeout" in result.message and result.checks[0].failure is Failure.TOO_EARLY


def test_missed_recovery_is_a_fail(tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    rec.recovery = [Recovery("datastore ds-iscsi01 accessible", False, None, 600.0, "device naa.600 status dead")]
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.FALSE
    assert "datastore ds-iscsi01 accessible not reached within 600s: device naa.600 status dead" in result.message


def test_a_crashed_checker_is_never_a_pass(tmp_path: Path) -> None:
    rec = make_record(tmp_path)
    rec.settings = {}  # the durations cannot be evaluated: the in-order checker raises
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.UNKNOWN and "checker crashed" in result.message


# -- recovery probes against a fake SSH boundary ----------------------------------------------------------

NFS_LIST = """\
Volume Name  Host         Share      Vmknic  Accessible  Mounted  Connections  Read-Only   isPE  Hardware Acceleration
-----------  -----------  ---------  ------  ----------  -------  -----------  ---------  -----  ---------------------
ds-nfs01     198.18.1.21  /ds-nfs01  None         {acc}     true            1      false  false  Not Supported
"""
GETALLVMS = """\
Vmid   Name              File                    Guest OS           Version   Annotation
1      win01    [ds-nfs01] win01/win01.vmx   windows2019srv_64Guest   vmx-19
"""


class FakeHost:
    """The SSH boundary: answers commands from a table (callables see how often they were asked)."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers, self.calls = answers, 0

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        self.calls += 1
        key = " ".join(argv) if isinstance(argv, list) else argv
        answer = self.answers.get(key, (127, "", f"sh: {key.split()[0]}: not found"))
        if callable(answer):
            answer = answer(self.calls)
        code, out, err = answer
        return CommandResult(key, code, out, err, 0.01)


def esx_with(answers: dict[str, Any]) -> tuple[EsxiHost, FakeHost]:
    inv = parse_inventory(INVENTORY.replace("type: vmfs", "type: nfs"), "inv.yaml", check_files=False)
    fake = FakeHost(answers)
    return EsxiHost.of(inv, "esx01", fake), fake


def test_datastore_accessible_reads_esxcli_nfs_list() -> None:
    inv = parse_inventory(INVENTORY.replace("ds-iscsi01", "ds-nfs01").replace("vmfs", "nfs"), "i", check_files=False)
    states = iter(["false", "false", "true"])
    fake = FakeHost({"esxcli storage nfs list": lambda n: (0, NFS_LIST.format(acc=next(states)), "")})
    probe = datastore_accessible(EsxiHost.of(inv, "esx01", fake), inv, "ds-nfs01")
    [res] = wait_conditions([probe], budget_s=5, poll_s=0.01)
    assert res.met is True and res.seconds is not None and fake.calls == 4  # 1 refused --formatter=csv, then 3 plain


def test_vm_powered_on_and_heartbeat_unobservable() -> None:
    esx, fake = esx_with(
        {
            "vim-cmd vmsvc/getallvms": (0, GETALLVMS, ""),
            "vim-cmd vmsvc/power.getstate 1": (0, "Retrieved runtime info\nPowered off\n", ""),
            "vim-cmd vmsvc/get.guestheartbeatStatus 1": (1, "", "Unknown command: 'vmsvc/get.guestheartbeatStatus'"),
        }
    )
    results = wait_conditions([vm_powered_on(esx, "win01"), vm_heartbeat_green(esx, fake, "win01")], 0.2, poll_s=0.05)
    assert [(r.condition, r.met) for r in results] == [
        ("vm win01 powered_on", False),
        ("vm win01 heartbeat_green", None),
    ]
    assert results[0].detail == "power state poweredOff" and "Unknown command" in results[1].detail


def test_an_unreachable_host_is_not_yet_recovered() -> None:
    def down() -> tuple[bool | None, str]:
        raise UnreachableError("connection refused", host="esx01")

    [res] = wait_conditions([Probe("host esx01 connected", down)], 0.1, poll_s=0.02)
    assert res.met is False and "connection refused" in res.detail


# -- signals ----------------------------------------------------------------------------------------------


def test_sigterm_raises_inside_the_run_and_the_old_handler_returns() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.5)  # give the handler its chance to run
    assert signal.getsignal(signal.SIGTERM) is before


def test_ctrl_c_during_heal_is_deferred_to_its_end() -> None:
    done = []
    with pytest.raises(KeyboardInterrupt), shielded():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("heal finished")
    assert done == ["heal finished"]


# -- runner and commands ----------------------------------------------------------------------------------


def test_scenario_settings_are_the_ones_durations_use() -> None:
    assert scenario_settings(parse_scenario(SCENARIO)) == ["Misc.APDTimeout"]


class DeadPool:
    def get(self, name: str) -> Any:
        raise UnreachableError("timed out", host=name)

    def close(self) -> None:
        pass


def test_unreachable_lab_is_outcome_error_naming_the_phase(tmp_path: Path) -> None:
    inv = parse_inventory(INVENTORY, "inv.yaml", check_files=False)
    opts = RunOptions(artifacts=tmp_path, state_dir=tmp_path / "ledger", pool_factory=lambda i: DeadPool())
    text = SCENARIO.replace("datastore: ds-iscsi01}", "datastore: ds-iscsi01, vm: win01}")  # win01 is no bystander
    rec = run_scenario(parse_scenario(text), inv, scenario_text=text, options=opts)
    assert rec.outcome == "error" and rec.message == "lab problem in phase preflight: esx01: timed out"
    saved, _ = load_record(tmp_path / rec.run_id)
    assert saved.outcome == "error" and saved.fault is None and not (tmp_path / "ledger").exists()


def test_run_command_bad_scenario_and_bad_inventory(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("")
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "kh").write_text("")
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    (tmp_path / "bad.yaml").write_text(SCENARIO.replace("hold:", "hodl:"))
    (tmp_path / "badinv.yaml").write_text(INVENTORY.replace("kind: iscsi", "kind: fibre"))
    (tmp_path / "ok.yaml").write_text(SCENARIO)
    cli = CliRunner()
    res = cli.invoke(app, ["run", str(tmp_path / "bad.yaml"), "--inventory", str(tmp_path / "inv.yaml")])
    assert res.exit_code == 2 and "bad.yaml, line 5, key hodl" in res.output, res.output
    res = cli.invoke(app, ["run", str(tmp_path / "ok.yaml"), "--inventory", str(tmp_path / "badinv.yaml")])
    assert res.exit_code == 2 and "badinv.yaml, line 6, key storage_targets[0].kind" in res.output, res.output
    res = cli.invoke(app, ["run", str(tmp_path / "ok.yaml"), "--lab", "fl0000", "--inventory", "inv.yaml"])
    assert res.exit_code == 2 and "give at most one of --inventory FILE or --lab ID" in res.output
    # Without a lab, an embedded one is shaped for the scenarios: a name it cannot have is refused first.
    (tmp_path / "elsewhere.yaml").write_text(SCENARIO.replace("host: esx01", "host: esx-prod-7"))
    res = cli.invoke(app, ["run", str(tmp_path / "elsewhere.yaml")])
    assert res.exit_code == 2 and "target.host: 'esx-prod-7' is not a name the embedded lab has" in res.output


def test_judge_command_rejudges_a_record(tmp_path: Path) -> None:
    save_record(make_record(tmp_path), tmp_path)
    res = CliRunner().invoke(app, ["judge", str(tmp_path / "record.json")])
    assert res.exit_code == 0 and "verdict TRUE" in res.output and "[met] step 3 apd.exit" in res.output
    (tmp_path / "junk.json").write_text("{")
    res = CliRunner().invoke(app, ["judge", str(tmp_path / "junk.json")])
    assert res.exit_code == 2 and "not a JSON run record" in res.output


def test_progress_shows_phase_budget_and_wait_only_on_a_terminal() -> None:
    import io

    from faultlab.harness.progress import Progress

    quiet = io.StringIO()
    with Progress(quiet) as p:
        p.phase("recover", 30)
        p.tick("vm win01 powered_on", 2.5)
    assert quiet.getvalue() == ""  # not a TTY: nothing at all
    assert p.line("vm win01 powered_on", 2.5) == "[recover]   2.5s / 30s  waiting for: vm win01 powered_on"
    shown = io.StringIO()
    with Progress(shown, enabled=True) as p:
        p.phase("hold", 14)
        p.tick("hold (network-blackhole on nfs01)", 3.0)
    assert "[hold]   3.0s / 14s  waiting for: hold (network-blackhole on nfs01)" in shown.getvalue()


def until(cond: Any, timeout_s: float = 5.0) -> bool:
    """Wait for a condition (polling on an Event, not a bare sleep)."""
    import threading
    import time

    deadline, pause = time.monotonic() + timeout_s, threading.Event()
    while not cond():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.02)
    return True


class FakeLogHost:
    """The SSH boundary of LogCursors: stat and ranged reads of files that grow between calls."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def stat(self, path: str) -> Any:
        from faultlab.lab.ssh import FileStat

        return FileStat(len(self.files[path]), 7, 0) if path in self.files else None

    def read_file(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.files[path][offset:]
        return data if length is None else data[:length]


def test_hold_watcher_notes_events_as_they_appear(tmp_path: Path) -> None:
    from faultlab.harness.runner import HoldWatcher

    host = FakeLogHost({"/var/run/log/vobd.log": b"old line\n"})

    class OnePool:
        closed = False

        def get(self, name: str) -> Any:
            return host

        def close(self) -> None:
            OnePool.closed = True

    inv = parse_inventory(INVENTORY, "inv.yaml", check_files=False)
    watcher = HoldWatcher(inv, lambda i: OnePool(), ["esx01"])  # type: ignore[arg-type, return-value]
    watcher.start()
    assert until(lambda: watcher._pool is not None), "the watcher did not start"
    host.files["/var/run/log/vobd.log"] += (vobd_line(T0, "start") + "\n").encode()
    assert until(lambda: bool(watcher.names())), "the watcher did not see the new line"
    seen, problems = watcher.finish()
    assert [s["name"] for s in seen] == ["apd.start"] and problems == [] and OnePool.closed


def test_hold_watcher_failure_is_a_note_not_an_error() -> None:
    from faultlab.harness.runner import HoldWatcher

    inv = parse_inventory(INVENTORY, "inv.yaml", check_files=False)
    watcher = HoldWatcher(inv, lambda i: DeadPool(), ["esx01"])
    watcher.start()
    watcher.join(timeout=5)
    seen, problems = watcher.finish()
    assert seen == [] and problems == ["log tail during the hold stopped: UnreachableError: esx01: timed out"]


def test_scenario_naming_what_the_inventory_lacks_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("")
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "kh").write_text("")
    (tmp_path / "inv.yaml").write_text(INVENTORY)
    (tmp_path / "sc.yaml").write_text(SCENARIO.replace("on: iscsi01", "on: iscsi09"))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "sc.yaml"), "--inventory", str(tmp_path / "inv.yaml")])
    assert res.exit_code == 2 and "sc.yaml, line 4, key fault.on" in res.output and "iscsi09" in res.output, res.output


def test_heartbeat_green_through_the_vsphere_api() -> None:
    from faultlab.harness.recovery import vm_heartbeat_green_api

    class FakeVsphere:
        """The API boundary: guestHeartbeatStatus red, then green."""

        def __init__(self) -> None:
            self.answers, self.connected = iter(["red", "red", "green"]), 0

        def connect(self) -> None:
            self.connected += 1

        def close(self) -> None:
            pass

        def retrieve(self, kind: str, paths: Any, names: Any = None) -> dict[str, dict[str, Any]]:
            assert (kind, list(paths), list(names)) == ("VirtualMachine", ["guestHeartbeatStatus"], ["win01"])
            return {"win01": {"guestHeartbeatStatus": next(self.answers)}}

    api = FakeVsphere()
    [res] = wait_conditions([vm_heartbeat_green_api(api, "win01")], 5, poll_s=0.01)
    assert res.met is True and res.detail == "guest heartbeat green (vSphere API)" and api.connected == 3


def guest_record(tmp_path: Path, resets_s: list[float], bsod_s: list[float], rebooted_s: float | None) -> RunRecord:
    """A run of a scenario asking for restarted_at_most_once and reboots_cleanly, with vmware.log lines (ESXi 7
    layout) of guest resets (vcpu-0 and vcpu-1, as a 2-vCPU guest logs them) and bugchecks at the given seconds."""
    lines: list[tuple[float, str]] = []
    for s in resets_s:
        lines += [
            (s, "vcpu-0| I005: CPU reset: soft (mode Emulation)"),
            (s, "vcpu-1| I005: CPU reset: soft (mode Emulation)"),
        ]
    for s in bsod_s:
        lines += [
            (s, f"vcpu-0| I005: WinBSOD: Synthetic MSR[0x4000010{i}] 0x{v:x}") for i, v in enumerate((0xEF, 1, 0, 0, 0))
        ]
    text = "".join(
        f"{(T0 + timedelta(seconds=s)).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z| {body}\n" for s, body in sorted(lines)
    )
    rel = "logs/esx01/vmfs/volumes/ds-iscsi01/win01/vmware.log"
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(text)
    scenario = SCENARIO.replace(
        "target: {host: esx01, datastore: ds-iscsi01}", "target: {host: esx01, datastore: ds-iscsi01, vm: win01}"
    )
    scenario = scenario.replace(
        "recover: {within: 10m, datastore: [accessible]}",
        "recover: {within: 10m, datastore: [accessible], vm: [restarted_at_most_once, reboots_cleanly]}",
    )
    rec = RunRecord("r1", "iscsi-apd", None, scenario, None, iso(T0))
    rec.anchors = {"fault.injected": iso(T0), "fault.healed": iso(T0 + timedelta(seconds=190))}
    if rebooted_s is not None:
        rec.anchors["guest.rebooted"] = iso(T0 + timedelta(seconds=rebooted_s))
    rec.logs = [LogFile("esx01", "/vmfs/volumes/ds-iscsi01/win01/vmware.log", rel, len(text))]
    return rec


def guest_verdicts(tmp_path: Path, *args: Any) -> dict[str, tuple[str, str]]:
    checks = judge(guest_record(tmp_path, *args), tmp_path).checks
    return {c.check: (c.verdict.value, c.message) for c in checks if "win01" in c.check}


RESTARTED = "recover: vm win01 restarted at most once after fault.injected"
CLEAN = "recover: vm win01 reboots without a bugcheck after guest.rebooted"


def test_one_restart_after_the_fault_and_a_clean_second_reboot_hold(tmp_path: Path) -> None:
    got = guest_verdicts(tmp_path, [192.0, 250.0], [191.0], 249.0)  # the reset at 250 s is the asked-for reboot
    assert got[RESTARTED] == ("true", "guest restarts (CPU reset): 1 guest.reset event(s), expected at most 1")
    assert got[CLEAN][0] == "true"


def test_a_second_restart_or_a_bugcheck_after_the_reboot_fails_naming_the_condition(tmp_path: Path) -> None:
    got = guest_verdicts(tmp_path, [192.0, 200.0, 250.0], [191.0, 251.0], 249.0)
    assert got[RESTARTED][0] == "false" and "2 guest.reset" in got[RESTARTED][1], got
    assert got[CLEAN][0] == "false" and "1 guest.bsod" in got[CLEAN][1], got
    # Without the second reboot (not asked, or not reached) only the restarts are judged, over the whole window.
    again = guest_verdicts(tmp_path / "b", [192.0, 250.0], [191.0], None)
    assert again[RESTARTED][0] == "false" and CLEAN not in again


def test_subject_datastore_matches_apd_lines_through_the_hosts_volume_ids(tmp_path: Path) -> None:
    # vobd names the device (mpx...), not the datastore: with the ids read at preflight the step matches.
    rec = make_record(tmp_path)
    rec.scenario_text = rec.scenario_text.replace(
        "- apd.start: {after: fault.injected}", "- apd.start: {subject: $datastore, after: fault.injected}"
    )
    assert "subject: $datastore" in rec.scenario_text
    rec.datastore_ids = {"ds-iscsi01": [DEV, "5d1a2b3c-4e5f6a7b-8c9d-000c29a1b2c3"]}
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.TRUE, result.message
    assert {e.fields.get("datastore") for e in result.events} == {"ds-iscsi01"}
    rec.datastore_ids = {"ds-other": [DEV]}  # the APD is on another datastore's device: the step is not met
    result = judge(rec, tmp_path)
    assert result.verdict is Verdict.FALSE and "step 1 apd.start" in result.message, result.message
