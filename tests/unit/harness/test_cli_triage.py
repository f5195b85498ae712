"""`faultlab triage` end to end on the example bundles built from the seed KBs, plus filters and errors."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer
import yaml
from typer.core import TyperGroup
from typer.testing import CliRunner

from faultlab.assertions.sources import discover
from faultlab.assertions.triage import scan_sources, triage
from faultlab.harness.cli import LAZY_COMMANDS, app, load_command
from faultlab.harness.cli import _PlainCommand as PlainCommandForTest
from faultlab.harness.report.triage_json import ProgressLine

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = ROOT / "tests" / "fixtures" / "log-samples"

spec = importlib.util.spec_from_file_location("example_bundle", ROOT / "scripts" / "example_bundle.py")
assert spec is not None and spec.loader is not None
example_bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example_bundle)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return list(example_bundle.build(tmp_path_factory.mktemp("bundles")))


def _records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_kb392634_bundle_json_lines(bundles: list[Path]) -> None:
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(bundles[0])])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    events = [r for r in recs if r["record"] == "event"]
    names = [e["name"] for e in events]
    for expected in ("apd.start", "hostd.slow_io", "hostd.io_error", "nfs.server.restored", "guest.bsod"):
        assert expected in names, (expected, names)
    bsod = next(e for e in events if e["name"] == "guest.bsod")
    assert bsod["fields"]["code"] == 0xEF
    assert bsod["fields"]["name"] == "CRITICAL_PROCESS_DIED"
    assert bsod["host"] == "esx01"
    assert bsod["file"] == "vmfs/volumes/<datastore>/<VMName>/vmware.log"
    assert bsod["time"].startswith("2026-11-20T14:37:")
    # the documented order: APD start, latency, storage back, then the guest bugchecks
    first = {n: names.index(n) for n in ("apd.start", "hostd.slow_io", "nfs.server.restored", "guest.bsod")}
    assert first["apd.start"] < first["hostd.slow_io"] < first["nfs.server.restored"] < first["guest.bsod"]
    for e in events:
        assert set(e) >= {"name", "time", "host", "file", "line", "subject", "fields", "raw", "log", "twin_of"}
    diags = [r for r in recs if r["record"] == "diagnosis"]
    assert any(d["kb"] == "KB 392634" and str(d["verdict"]) == "true" for d in diags), diags
    summary = recs[-1]
    assert summary["record"] == "summary" and summary["odd_lines"] == 0


def test_kb308590_bundle_names_the_culprit(bundles: list[Path]) -> None:
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(bundles[1])])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    names = [r["name"] for r in recs if r["record"] == "event"]
    assert "host.psod" in names and "host.heartbeat.lost" in names and "host.memory.sample" in names
    diag = next(r for r in recs if r["record"] == "diagnosis" and r["kb"] == "KB 308590")
    assert "VMap" in json.dumps(diag)
    meminfo = next(r for r in recs if r["record"] == "file" and r["file"] == "proc/meminfo")
    assert meminfo["log"] is None and "read for the KB 308590 swap figures" in meminfo["skipped"]


def test_human_output_has_timeline_and_diagnosis(bundles: list[Path]) -> None:
    result = CliRunner().invoke(app, ["triage", str(bundles[0])], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Timeline" in result.output
    assert "guest.bsod" in result.output and "0xEF" in result.output
    assert "KB 392634" in result.output


def test_filters(bundles: list[Path]) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["triage", "--json", "-", "-s", "apd.*", "-s", "guest.bsod", str(bundles[0])]).output
    names = {r["name"] for r in _records(out) if r["record"] == "event"}
    assert names == {"apd.start", "guest.bsod"}
    out = runner.invoke(
        app,
        [
            "triage",
            "--json",
            "-",
            "--since",
            "2026-11-20T14:36:00Z",
            "--until",
            "2026-11-20T14:37:30Z",
            str(bundles[0]),
        ],
    ).output
    times = [r["time"] for r in _records(out) if r["record"] == "event"]
    assert times and all("2026-11-20T14:36:00" <= t <= "2026-11-20T14:37:30" for t in times)
    out = runner.invoke(app, ["triage", "--json", "-", "--host", "nosuchhost", str(bundles[0])]).output
    assert not [r for r in _records(out) if r["record"] == "event"]


def test_bad_path_and_bad_archive_one_line_nonzero(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["triage", str(tmp_path / "nope.tgz")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(gzip.compress(b"this is not a tar archive"))
    result = runner.invoke(app, ["triage", str(bad)])
    assert result.exit_code == 2
    assert "bad.tgz" in result.output and len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["triage", "--since", "yesterday", str(bad)])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_samples_folder_reports_odd_lines_and_never_crashes() -> None:
    result = CliRunner().invoke(app, ["triage", "--all-lines", "--json", "-", str(SAMPLES)])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    files = [r for r in recs if r["record"] == "file"]
    assert {Path(f["file"]).name for f in files} >= {"vmkernel.log.txt", "vobd.log.txt", "hostd.log.txt"}
    assert sum(f["odd_lines"] for f in files) >= 1  # the truncated vmware.log line is kept and reported
    odd_texts = [o["text"] for f in files for o in f["odd_examples"]]
    assert any(t.startswith("019-03-14T12:03:04.445Z") for t in odd_texts)


def test_stdin_is_read(bundles: list[Path]) -> None:
    vobd = (
        b"2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] "
        b"scsiPath vmhba2:C0:T1:L1 changed state from on\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "faultlab.harness.cli", "triage", "--json", "-", "-"],
        input=vobd,
        capture_output=True,
        check=True,
    )
    recs = _records(proc.stdout.decode())
    assert [r["name"] for r in recs if r["record"] == "event"] == ["path.dead"]


def test_piped_output_is_wide_enough_to_read(bundles: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Piped to a file or CI log (no terminal, no $COLUMNS), a timeline row keeps its text on one line."""
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(app, ["triage", str(bundles[0])])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "fopen took over 140 s" in line)
    assert "/vmfs/volumes/<datastore>/<VMName>/Virtual-Machine.vmx" in row and "hostd.slow_io" in row
    narrow = CliRunner().invoke(app, ["triage", str(bundles[0])], env={"COLUMNS": "100"})
    assert max(len(line) for line in narrow.output.splitlines()) <= 100


def test_a_runs_logs_folder_is_one_host_and_diagnosed_as_kb392634() -> None:
    """A faultlab run's logs/<host>/{var/run/log,vmfs/volumes/<ds>/<vm>} (a real embedded-lab run): the VM's
    vmware.log belongs to the host that logged the APD, so its bugcheck is the KB's storage case."""
    logs = ROOT / "tests" / "fixtures" / "runs" / "nfs-apd-bsod" / "logs"
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(logs)])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    assert {r["host"] for r in recs if r["record"] == "event"} == {"esx01"}
    diag = next(r for r in recs if r["record"] == "diagnosis" and r["kb"] == "KB 392634")
    assert str(diag["verdict"]) == "true", diag
    text = json.dumps(diag)
    assert text.count("APD start on c1092ecc-2c42957d") == 1  # vmkernel, vobd and hostd copies said once
    assert "APD timeout on c1092ecc-2c42957d after 6 s" in text and "NFS server 198.18.2.21 lost" in text


VOBD_LINE = (
    b"2012-05-22T07:02:04.680Z: [scsiCorrelator] 1680920122975us: [vob.scsi.scsipath.pathstate.dead] "
    b"scsiPath vmhba2:C0:T1:L1 changed state from on\n"
)
FAULTLAB = [sys.executable, "-m", "faultlab.harness.cli"]


def test_a_fifo_in_a_folder_never_hangs_and_is_listed(tmp_path: Path) -> None:
    """A real FIFO nobody writes to: opening it would block for ever; triage lists it and finishes."""
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE)
    os.mkfifo(tmp_path / "vmkernel.log")
    (tmp_path / "notes.txt").write_text("collected by hand\n")
    proc = subprocess.run(
        [*FAULTLAB, "triage", "--json", "-", str(tmp_path)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    recs = _records(proc.stdout.decode())
    assert [r["name"] for r in recs if r["record"] == "event"] == ["path.dead"]
    files = {r["file"]: r for r in recs if r["record"] == "file"}
    assert files["vmkernel.log"]["skipped"] == "not a regular file: a FIFO (named pipe)"
    assert files["notes.txt"]["skipped"].startswith("not a log:")
    assert files["vobd.log"]["skipped"] is None and files["vobd.log"]["log"] == "vobd"
    assert recs[-1]["skipped_files"] == 2
    human = subprocess.run(
        [*FAULTLAB, "triage", str(tmp_path)], capture_output=True, timeout=60, text=True, check=False
    )
    assert "skipped vmkernel.log: not a regular file: a FIFO (named pipe)" in human.stdout
    assert "skipped notes.txt: not a log" in human.stdout


def test_a_fifo_named_on_the_command_line_is_read_once(tmp_path: Path) -> None:
    """`faultlab triage <(zcat vobd.0.gz)`: a pipe given by name is read like stdin, its kind sniffed."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*FAULTLAB, "triage", "--json", "-", str(fifo)], stdout=subprocess.PIPE)
    with fifo.open("wb") as writer:
        writer.write(VOBD_LINE * 2)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    recs = _records(out.decode())
    assert [r["name"] for r in recs if r["record"] == "event"] == ["path.dead", "path.dead"]
    assert next(r for r in recs if r["record"] == "file")["log"] == "vobd"


def test_a_truncated_gz_keeps_its_readable_lines_and_reports_the_damage(tmp_path: Path) -> None:
    noise = b"".join(b"2018-07-06T21:02:11.204Z cpu0:65641)Jumpstart plugin %d activated.\n" % i for i in range(99_999))
    apd = (
        b"2018-07-06T21:02:11.204Z cpu0:65641)ScsiDevice: 4993: Device state of naa.6001 set to APD_START; "
        b"token num:1\n"
    )
    whole = gzip.compress(noise + apd + noise)
    cut = whole[: len(whole) * 3 // 4]
    (tmp_path / "vmkernel.0.gz").write_bytes(cut)
    readable = zlib.decompressobj(wbits=31).decompress(cut)
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(tmp_path)])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    assert [r["name"] for r in recs if r["record"] == "event"] == ["apd.start"]
    (f,) = [r for r in recs if r["record"] == "file"]
    # every line zlib can inflate before the damage (ISA-L may get a few bytes further), and the cut-off last one
    assert readable.count(b"\n") + 1 <= f["lines"] <= readable.count(b"\n") + 2
    m = re.match(r"damaged: read up to byte (\d+) of its content, then: .*end-of-stream", f["error"])
    assert m and len(readable) <= int(m.group(1)) < len(readable) + 4096
    assert recs[-1]["damaged_files"] == 1
    human = CliRunner().invoke(app, ["triage", str(tmp_path)], env={"COLUMNS": "200"})
    assert "vmkernel.0.gz: not read to its end" in human.output


def test_a_2gb_sparse_file_shows_progress_and_is_counted_odd(tmp_path: Path) -> None:
    """A 2 GB file of NUL bytes (sparse: no disk used) under a log's name: progress on stderr while it is read
    in bounded pieces, each an odd line; the other logs still give their events (two files, 2 GB: scanned by
    two forked workers that share one byte counter)."""
    sparse = tmp_path / "vmkernel.log"
    with sparse.open("wb") as fh:
        fh.truncate(2 << 30)
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE)
    err = io.StringIO()
    with ProgressLine(err, show_after_s=0, plain_every_s=0.5, tty=False) as progress:
        report = triage([tmp_path], progress=progress.update)
    assert [e.name for e in report.events] == ["path.dead"]
    stats = {s.name: s for s in report.stats}
    assert stats["vmkernel.log"].bytes == 2 << 30 and stats["vmkernel.log"].odd == stats["vmkernel.log"].lines > 0
    lines = err.getvalue().splitlines()
    assert lines and all(
        re.fullmatch(r"triage: 2 files: [\d,]+ MB read of 2,147 MB \(\d+%\), \d+ s", ln) for ln in lines
    )
    done = [int(re.search(r"read of 2,147 MB \((\d+)%", ln).group(1)) for ln in lines]  # type: ignore[union-attr]
    assert done == sorted(done) and done[-1] > 0


def test_progress_on_a_terminal_is_one_line_rewritten_then_cleared() -> None:
    out = io.StringIO()
    clock = iter([0.0, 2.0, 2.1, 3.0]).__next__
    with ProgressLine(out, tty=True, clock=clock) as p:
        p.update("vmkernel.log", 10_000_000, 100_000_000)  # 2 s: shown
        p.update("vmkernel.log", 20_000_000, 100_000_000)  # 0.1 s later: not yet
        p.update("vmkernel.log", 50_000_000, 100_000_000)  # shown
    text = out.getvalue()
    assert text.count("\r") == 4 and "\n" not in text  # two updates, then blanked and back to column 0
    assert "10 MB read of 100 MB (10%)" in text and "50 MB read of 100 MB (50%)" in text
    assert "20 MB" not in text and text.endswith("\r")


def _modules_after(argv: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from faultlab.harness.cli import main\n"
        f"sys.argv = {['faultlab', *argv]!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('paramiko', 'pyVmomi', 'faultlab.harness.runner', 'faultlab.sim', 'faultlab.lab', 'hyperscan')\n"
        "print(sorted({m for m in sys.modules if m.startswith(heavy)}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_help_imports_neither_ssh_nor_pyvmomi_nor_the_harness() -> None:
    assert _modules_after(["--help"]) == []
    assert _modules_after(["triage", "--help"]) == []
    assert "paramiko" in _modules_after(["heal", "--help"])  # a command that needs SSH loads it


def test_triage_json_imports_neither_typer_nor_pydantic_nor_rich(tmp_path: Path) -> None:
    """typer (and its pydantic coercion) and rich's console are most of the start-up of `triage --json`, which
    needs none of them: a plain command line is read without typer."""
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE)
    code = (
        "import sys\n"
        "from faultlab.harness.cli import main\n"
        f"sys.argv = ['faultlab', 'triage', '--json', '-', '--host', {tmp_path.name!r}, '-s', 'path.*', "
        f"{str(tmp_path)!r}]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(('pydantic', 'rich', 'typer'))}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    *json_lines, modules = proc.stdout.strip().splitlines()
    assert modules == "[]"
    events = [r for r in _records("\n".join(json_lines)) if r["record"] == "event"]
    assert [e["name"] for e in events] == ["path.dead"]  # --host and -s reached the filter as given


PLAIN_COMMAND_LINES = [
    ["DIR"],
    ["--json", "-", "DIR"],
    ["--json", "out.jsonl", "DIR", "other.log", "-"],
    ["DIR", "--host", "a", "--host", "b", "-s", "apd.*", "--signature", "guest.bsod", "--twins", "--all-lines"],
    ["--since", "2026-11-20T14:36:00Z", "--until", "2026-11-20T15:00:00+02:00", "--json", "-", "DIR"],
    ["--all-lines", "--all-lines", "-s", "-", "DIR"],  # a flag twice; an option's value that looks like stdin
]
NOT_PLAIN = [
    [],
    ["--help"],
    ["DIR", "-h"],
    ["--json"],  # no value
    ["--json", "-"],  # no path
    ["--json=-", "DIR"],
    ["--", "DIR"],
    ["--since", "yesterday", "DIR"],
    ["--json", "a", "--json", "b", "DIR"],
    ["--nosuch", "DIR"],
    ["-sapd.*", "DIR"],
]


@pytest.mark.parametrize("argv", PLAIN_COMMAND_LINES, ids=[" ".join(a) for a in PLAIN_COMMAND_LINES])
def test_plain_triage_command_lines_read_without_typer_as_typer_reads_them(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path and typer hand the command the same arguments."""
    from faultlab.harness.cli import triage as cli_triage
    from faultlab.harness.cli.triage_run import parse_plain

    seen: list[object] = []
    monkeypatch.setattr(cli_triage, "run_triage", lambda args: seen.append(args) or 0)
    result = CliRunner().invoke(app, ["triage", *argv])
    assert result.exit_code == 0, result.output
    assert seen == [parse_plain(argv)] and seen[0] is not None


@pytest.mark.parametrize("argv", NOT_PLAIN, ids=[" ".join(a) or "(none)" for a in NOT_PLAIN])
def test_other_triage_command_lines_go_to_typer(argv: list[str]) -> None:
    from faultlab.harness.cli.triage_run import parse_plain

    assert parse_plain(argv) is None


def test_the_fast_path_knows_every_option_of_the_typer_command() -> None:
    from faultlab.harness.cli.triage_run import FLAG_OPTIONS, VALUE_OPTIONS

    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands["triage"]
    opts = {o for p in command.params for o in getattr(p, "opts", []) if o.startswith("-")}
    assert opts == set(VALUE_OPTIONS) | set(FLAG_OPTIONS)
    value_params = {p.name for p in command.params if not getattr(p, "is_flag", False) and p.name != "paths"}
    assert value_params == set(VALUE_OPTIONS.values())


def test_a_bad_value_on_the_fast_path_gets_typers_error(tmp_path: Path) -> None:
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE)
    proc = subprocess.run(
        [*FAULTLAB, "triage", "--since", "yesterday", "--json", "-", str(tmp_path)],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.returncode == 2 and "--since" in proc.stderr and "ISO 8601" in proc.stderr and not proc.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """`faultlab triage --json - DIR | head -1`: the pipe closes under the writer, which ends quietly."""
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE * 20_000)
    proc = subprocess.Popen(
        [*FAULTLAB, "triage", "--json", "-", "--twins", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert json.loads(first)["record"] == "event" and "Traceback" not in err, err


def test_ctrl_c_on_the_fast_path_is_answered_as_click_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from faultlab.harness import cli
    from faultlab.harness.cli import triage_run

    def interrupted(_args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(triage_run, "run_triage", interrupted)
    monkeypatch.setattr(sys, "argv", ["faultlab", "triage", "--json", "-", "somewhere"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1 and "Aborted!" in capsys.readouterr().err


def test_typed_options_other_than_text_keep_typers_coercion() -> None:
    """The pass-through is for text and flags only: an int option is still converted and checked by typer."""
    got: list[object] = []
    demo = typer.Typer()

    @demo.command("demo", cls=PlainCommandForTest)
    def _demo(
        count: Annotated[int, typer.Option()] = 1,
        name: Annotated[str, typer.Option()] = "x",
        tag: Annotated[list[str] | None, typer.Option()] = None,
        loud: Annotated[bool, typer.Option()] = False,
    ) -> None:
        got.append((count, name, tag, loud))

    command = typer.main.get_command(demo)
    command.main(["--count", "3", "--name", "7", "--tag", "a", "--tag", "b", "--loud"], standalone_mode=False)
    assert got == [(3, "7", ["a", "b"], True)]
    kinds = {p.name: type(getattr(p, "_runtime_param", None)).__name__ for p in command.params}
    assert kinds["name"] == kinds["tag"] == kinds["loud"] == "_PlainParam" and kinds["count"] != "_PlainParam"
    bad = CliRunner().invoke(demo, ["--count", "three"], env={"COLUMNS": "200"})
    assert bad.exit_code == 2 and "--count" in bad.output and "valid integer" in bad.output, bad.output


def test_lazy_commands_list_the_help_of_the_real_command() -> None:
    for name, lazy in LAZY_COMMANDS.items():
        real = load_command(name, lazy)
        assert (real.help or "").startswith(lazy.short_help.removesuffix("...")), name
    listing = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert all(name in listing for name in ("triage", *LAZY_COMMANDS))
    assert CliRunner().invoke(app, ["judge", "--help"]).exit_code == 0
    lab = CliRunner().invoke(app, ["lab", "--help"], env={"COLUMNS": "200"})
    assert lab.exit_code == 0 and "status" in lab.output and "install-completion" not in lab.output


REFERENCE_SAMPLES = Path("/work/shared/reference/log-samples")
LABELS = ROOT / "tests" / "fixtures" / "labels"


def test_recall_and_precision_on_real_published_lines() -> None:
    """`faultlab triage` as users run it (folder discovery, kinds from names and content, the prefilter) over
    the verbatim real lines, scored against the hand labels: each labelled line must give its event (recall),
    every event must be a labelled one (precision), both at least 0.9; every file is read or skipped."""
    folder = REFERENCE_SAMPLES if REFERENCE_SAMPLES.is_dir() else SAMPLES
    result = CliRunner().invoke(app, ["triage", "--json", "-", str(folder)])
    assert result.exit_code == 0, result.output
    recs = _records(result.output)
    files = {r["file"]: r for r in recs if r["record"] == "file"}
    assert set(files) == {p.name for p in folder.iterdir()}, "every file is accounted for"
    got = {(r["file"], r["line"], r["name"]) for r in recs if r["record"] == "event"}
    expected: set[tuple[str, int, str]] = set()
    for label_file in sorted(LABELS.glob("*.yaml")):
        spec = yaml.safe_load(label_file.read_text())
        assert files[spec["sample"]]["log"] == spec["kind"], f"{spec['sample']} read as the wrong log"
        lines = (folder / spec["sample"]).read_text(encoding="utf-8").splitlines()
        for label in spec["events"] or []:
            (no,) = [i for i, text in enumerate(lines, 1) if label["line"] in text]
            expected.add((spec["sample"], no, label["name"]))
    true_pos = len(got & expected)
    recall, precision = true_pos / len(expected), true_pos / len(got)
    detail = f"missed {sorted(expected - got)}; false {sorted(got - expected)}"
    assert recall >= 0.9 and precision >= 0.9, f"recall {recall:.2f} precision {precision:.2f}: {detail}"


def test_forked_workers_give_the_same_events_and_counts_as_one_process(tmp_path: Path) -> None:
    """The parallel scan (forked workers, one file each) changes nothing but the time: same events in the same
    order, same line counts, same damage report."""
    noise = b"2018-07-06T21:02:11.204Z cpu0:65641)Jumpstart plugin activated.\n"
    (tmp_path / "vobd.log").write_bytes(noise * 50 + VOBD_LINE + noise)
    (tmp_path / "vmkernel.log").write_bytes(noise * 20_000)
    whole = gzip.compress(noise * 30_000 + VOBD_LINE.replace(b"dead", b"on"))
    (tmp_path / "vmkernel.0.gz").write_bytes(whole)
    (tmp_path / "vmkernel.1.gz").write_bytes(whole[: len(whole) // 2])
    sources = discover(tmp_path)
    serial = scan_sources(sources, workers=1)
    parallel = scan_sources(sources, workers=2)
    assert [(e.name, e.file, e.line_no) for e in parallel[0]] == [(e.name, e.file, e.line_no) for e in serial[0]]
    assert [(s.name, s.lines, s.bytes, s.error) for s in parallel[1]] == [
        (s.name, s.lines, s.bytes, s.error) for s in serial[1]
    ]
    assert any(s.error for s in serial[1]) and serial[0]


def test_a_killed_worker_falls_back_to_one_process(tmp_path: Path) -> None:
    """A scan worker that dies (the OOM killer, a crash) does not lose the triage: it is scanned again here."""
    parent = os.getpid()
    (tmp_path / "vobd.log").write_bytes(VOBD_LINE)
    good = discover(tmp_path)[0]

    def dies_in_a_worker() -> io.BufferedReader:
        if os.getpid() != parent:
            os._exit(9)
        return (tmp_path / "vobd.log").open("rb")

    sources = [good, dataclasses.replace(good, name="copy/vobd.log", open=dies_in_a_worker)]
    events, stats = scan_sources(sources, workers=2)
    assert [(e.name, e.file) for e in events] == [("path.dead", "vobd.log"), ("path.dead", "copy/vobd.log")]
    assert [s.error for s in stats] == [None, None]


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists(), reason="needs root to drop to nobody")
def test_unreadable_folders_and_files_are_listed_not_passed_over() -> None:
    """Run as nobody (root reads everything): a folder it cannot list and a log it cannot open are named."""
    base = Path(tempfile.mkdtemp(prefix="faultlab-perm-"))  # outside pytest's 0700 tmp, so nobody can reach it
    try:
        base.chmod(0o755)
        (base / "vobd.log").write_bytes(VOBD_LINE)
        (base / "vobd.log").chmod(0o644)
        (base / "vmkernel.log").write_bytes(VOBD_LINE)
        (base / "vmkernel.log").chmod(0o600)
        (base / "locked").mkdir(mode=0o700)
        nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        proc = subprocess.run(
            [*nobody, *FAULTLAB, "triage", "--json", "-", str(base)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        files = {r["file"]: r for r in _records(proc.stdout.decode()) if r["record"] == "file"}
        assert files["locked"]["skipped"] == "folder not readable (Permission denied)"
        assert files["vmkernel.log"]["skipped"] == "not readable (permission denied)"
        assert files["vobd.log"]["events"] == 1
    finally:
        shutil.rmtree(base)
