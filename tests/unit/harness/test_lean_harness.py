"""The lean harness without a lab: the wall-time split (inherent / waiting / own), how long the recovery loop and
the second reboot say they waited, probes asked together, batched reads of logs and of esxcli (the batch scripts
run by a real local `sh`), and the own time per phase the benchmark prints."""

from __future__ import annotations

import importlib.util
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from faultlab.harness.cursors import LogCursors, Mark, read_all_since, read_slices, take_marks
from faultlab.harness.record import Phase, Recovery, RunRecord, iso, now_utc
from faultlab.harness.recovery import probe_together
from faultlab.harness.runner import SecondReboot
from faultlab.harness.runner.run import _figures
from faultlab.lab.esxi import EsxiHost
from faultlab.lab.inventory import parse_inventory
from faultlab.lab.shellbatch import FileSlice, parse_slices, slices_script
from faultlab.lab.ssh import CommandResult, FileStat

from .test_runner import INVENTORY
from .test_runner_parts import FakeClient, FakeCondition, FakeJudge, loop

ROOT = Path(__file__).resolve().parents[3]


# -- the split of the wall time -----------------------------------------------------------------------------


def _record(phases: dict[str, float], figures: dict[str, float], recovery: list[Recovery]) -> RunRecord:
    rec = RunRecord(
        run_id="r", scenario_name="s", scenario_path=None, scenario_text="", inventory_path=None, started="x"
    )
    t = now_utc().replace(microsecond=0)
    for name, seconds in phases.items():
        rec.phases.append(Phase(name=name, started=iso(t), ended=iso(t + timedelta(seconds=seconds)), status="ok"))
    rec.figures.update(figures)
    rec.recovery = recovery
    return rec


def test_the_split_counts_only_real_waits_as_not_the_harnesss_own() -> None:
    rec = _record(
        {"lease": 0.2, "preflight": 0.5, "hold": 10.0, "heal": 0.3, "recover+judge": 4.0, "second-reboot": 3.0},
        {"lease_waited_s": 0.0, "recovery_wait_s": 3.5, "reboot_waited_s": 2.5, "baseline_waited_s": 0.5},
        [
            Recovery("datastore ds accessible", True, 0.4, 30.0, ""),  # met at the first probe, after the heal
            Recovery("vm win01 heartbeat_green", True, 3.9, 30.0, ""),
            Recovery("vm win01 reboots_cleanly", True, 2.8, 30.0, ""),  # the guest's own: waiting, not recovery
        ],
    )
    f = _figures(rec, wall_s=18.5)
    assert f["recovery_s"] == 3.9  # the reboot's 2.8 s is not a recovery condition's time
    assert f["inherent_s"] == 13.5  # the hold + what the loop waited, not the heal's 0.3 s nor the first probe's
    assert f["waiting_s"] == 3.0  # reboot + a settling lab at the baseline; the lease was had at the first try
    assert f["harness_s"] == pytest.approx(18.5 - 13.5 - 3.0)
    assert f["overhead_s"] == pytest.approx(18.5 - 13.5)


def test_the_benchmark_prints_each_phases_own_time() -> None:
    spec = importlib.util.spec_from_file_location("harness_time", ROOT / "benchmarks" / "harness_time.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = {"phase_lease_s": 0.3, "lease_waited_s": 0.1, "phase_hold_s": 9.0, "phase_recover_judge_s": 4.0}
    figures |= {"recovery_wait_s": 3.0, "phase_second_reboot_s": 2.0, "reboot_waited_s": 1.5, "harness_s": 2.0}
    own = bench.own_per_phase({"figures": figures})
    assert own["lease"] == pytest.approx(0.2) and own["hold"] == 0.0
    assert own["recover+judge"] == pytest.approx(1.0) and own["second-reboot"] == pytest.approx(0.5)
    assert own["other"] == pytest.approx(0.3)  # between and around the phases


# -- what the loops say they waited -------------------------------------------------------------------------


def test_a_loop_that_finds_everything_recovered_at_once_waited_nothing() -> None:
    rl = loop([FakeCondition("vm win01 powered_on", [True])], FakeJudge(true_from=1))
    rl.run()
    assert rl.waited_s < 0.05


def test_a_loop_waits_from_its_first_probe_to_the_round_that_saw_the_last_condition() -> None:
    ds = FakeCondition("datastore ds-nfs01 accessible", [False, False, True])
    rl = loop([ds], FakeJudge(true_from=1))
    rl.healed -= 2.0  # the heal took 2 s of the harness's own time before the loop began
    rl.run()
    assert 0.4 <= rl.waited_s < 1.5  # two pauses of POLL_S, not the heal's 2 s


def test_a_loop_whose_condition_never_came_waited_all_along() -> None:
    rl = loop([FakeCondition("vm win01 powered_on", [False])], FakeJudge(true_from=1), budget_s=0.6)
    rl.run()
    assert 0.5 <= rl.waited_s < 1.5


def test_the_second_reboot_waits_from_the_answer_to_the_round_that_saw_the_guest_back() -> None:
    resets = iter([None, None, "2026-05-07T16:04:10Z"])
    green = FakeCondition("vm win01 heartbeat_green", [True, False, True])  # Tools stop, then come back
    reboot = SecondReboot("win01", lambda: 7, FakeClient(), green, lambda t: next(resets, "x"), 5.0)
    assert reboot.run(now_utc()).met is True
    assert 0.8 <= reboot.waited_s < 2.5  # two pauses of 2 * POLL_S before the third look found the reset


def test_probes_are_asked_together() -> None:
    both = threading.Barrier(2, timeout=5)  # passes only if the two probes run at the same time

    class Together:
        def __init__(self, name: str) -> None:
            self.name = name

        def probe(self) -> bool | None:
            both.wait()
            return True

    assert probe_together([Together("a"), Together("b")]) == [True, True]


def test_a_probe_that_raises_raises_in_the_caller() -> None:
    class Broken:
        name = "broken"

        def probe(self) -> bool | None:
            raise RuntimeError("cannot ask")

    with pytest.raises(RuntimeError, match="cannot ask"):
        probe_together([FakeCondition("ok", [True]), Broken()])


# -- batched reads, run by a real local shell ---------------------------------------------------------------


class LocalShell:
    """A Runner whose commands run in a local `sh` (the scripts the batches send, for real, without SSH)."""

    def __init__(self, path: str = "") -> None:
        self.sent: list[str] = []
        self.path = path

    def run(self, argv: list[str] | str, timeout: float | None = None, check: bool = False) -> CommandResult:
        line = argv if isinstance(argv, str) else subprocess.list2cmdline(argv)
        self.sent.append(line)
        env = {"PATH": f"{self.path}:/usr/bin:/bin"} if self.path else None
        p = subprocess.run(["sh", "-c", line], capture_output=True, timeout=30, check=False, env=env)
        return CommandResult(
            line, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(), 0.0, "local", p.stdout
        )

    def read_slices(self, reads: list[tuple[str, int, int | None]]) -> list[FileSlice]:
        token = "t0k3n"
        res = self.run(slices_script(reads, token))
        got = parse_slices(res.stdout_bytes, reads, token)
        assert all(isinstance(g, FileSlice) for g in got), got
        return [g for g in got if isinstance(g, FileSlice)]

    def stat(self, path: str) -> FileStat | None:
        p = Path(path)
        if not p.exists():
            return None
        st = p.stat()
        return FileStat(st.st_size, st.st_ino, int(st.st_mtime))

    def read_file(self, path: str, offset: int = 0, length: int | None = None) -> bytes:
        data = Path(path).read_bytes()[offset:]
        return data if length is None else data[:length]


def test_one_round_trip_marks_and_reads_every_log(tmp_path: Path) -> None:
    a, b, gone = tmp_path / "vmkernel.log", tmp_path / "it's hostd.log", tmp_path / "absent.log"
    a.write_bytes(b"x" * 100 + b"\n")
    b.write_bytes(b"")
    shell = LocalShell()
    cur = LogCursors(shell, [str(a), str(b), str(gone)], "esx01")
    marks = cur.mark()
    assert len(shell.sent) == 1  # one command for the three marks
    assert marks[str(a)] == Mark(str(a), a.stat().st_ino, 101, b"x" * 64) and marks[str(gone)].inode == 0
    with a.open("ab") as fh:
        fh.write(b"new \xff line\n")
    b.write_bytes(b"first\n")
    gone.write_bytes(b"born\n")  # created after the mark: read whole
    shell.sent.clear()
    chunks = cur.collect()
    assert [chunks[p].data for p in (str(a), str(b), str(gone))] == [b"new \xff line\n", b"first\n", b"born\n"]
    assert len(shell.sent) == 1 and cur.stats[str(a)] == shell.stat(str(a))


def test_a_log_that_rotated_is_read_again_on_its_own(tmp_path: Path) -> None:
    log = tmp_path / "vobd.log"
    log.write_bytes(b"old line one\n")
    shell = LocalShell()
    marks = take_marks(shell, [str(log)])
    log.rename(tmp_path / "vobd.0.gz.tmp")
    import gzip

    (tmp_path / "vobd.0.gz").write_bytes(gzip.compress(b"old line one\nold line two\n"))
    log.write_bytes(b"new file\n")
    got = read_all_since(shell, marks)
    chunk, mark, st = got[str(log)]
    assert chunk.data == b"old line two\nnew file\n" and chunk.rotated == (str(tmp_path / "vobd.0.gz"),)
    assert mark.size == 9 and st is not None and st.size == 9


def test_readers_without_batches_read_one_file_at_a_time(tmp_path: Path) -> None:
    f = tmp_path / "a.log"
    f.write_bytes(b"0123456789")

    class Plain:
        stat = LocalShell.stat
        read_file = LocalShell.read_file

    got = read_slices(Plain(), [(str(f), 2, 3), (str(f), 8, None), (str(tmp_path / "no"), 0, None)])
    assert [g.data for g in got] == [b"234", b"89", b""] and got[2].stat is None


def test_esxcli_reads_of_preflight_go_in_one_round_trip(tmp_path: Path) -> None:
    """A stand-in esxcli run by a real sh, answering the option with a real host's listing (reference
    esxcli/advanced.1.txt, verbatim) and refusing the file system list: one command for the batch, the refused
    read asked again on its own, each answer to its own question."""
    sample = Path(__file__).parents[2] / "fixtures" / "esxcli" / "advanced.1.txt"  # reference/esxcli's, verbatim
    fake = tmp_path / "esxcli"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *"-o /Net/TcpipDefLROEnabled"*) cat "{sample}";;\n'
        '  *"filesystem list"*) echo "Error: no such namespace" >&2; exit 1;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    shell = LocalShell(str(tmp_path))
    inv = parse_inventory(INVENTORY, "inventory.yaml", check_files=False)
    esx = EsxiHost.of(inv, "esx01", shell)
    values, filesystems = esx.preflight_facts(["Net.TcpipDefLROEnabled"])
    assert values == {"Net.TcpipDefLROEnabled": 0}
    assert "no such namespace" in str(filesystems)
    # the batch, then csv and plain asked again, then `vmware -v` (is it an ESX 4 host, whose esxcli has no storage?)
    assert shell.sent[0].startswith("d=$(mktemp -d") and shell.sent[1:] == [
        "esxcli --formatter=csv storage filesystem list",
        "esxcli storage filesystem list",
        "vmware -v",
    ]


def test_a_batch_keeps_each_commands_output_error_and_status(tmp_path: Path) -> None:
    shell = LocalShell()
    esx = EsxiHost.of(parse_inventory(INVENTORY, "inventory.yaml", check_files=False), "esx01", shell)
    got = esx.run_many([["printf", "a\\nb"], ["sh", "-c", "echo oops >&2; exit 3"], ["true"]])
    assert [(r.exit_status, r.stdout, r.stderr) for r in got] == [(0, "a\nb", ""), (3, "", "oops\n"), (0, "", "")]
    assert len(shell.sent) == 1 and not list(Path("/tmp").glob("faultlab-batch.*"))  # its folder removed


def test_slices_of_a_file_that_cannot_be_statted_are_reported() -> None:
    reads: list[tuple[str, int, int | None]] = [("/x", 0, None), ("/y", 0, None)]
    got = parse_slices(b"\ntok 0 ERR\n", reads, "tok")
    assert got == [("/x", "stat /x failed"), ("/y", "no answer for /y")]
