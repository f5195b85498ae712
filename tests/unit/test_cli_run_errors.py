"""Issue 11 item 8: `faultlab run` answers bad input with exit 2 and lab or machine trouble with exit 3, each as one
paragraph; never exit 1 (a failed scenario) with a traceback. Each case runs the real command in a process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_precheck import Listener, inventory_text, scenario_text

FAULTLAB = Path(sys.executable).parent / "faultlab"


@pytest.fixture
def lab_files(tmp_path: Path) -> Iterator[tuple[Path, Listener]]:
    """An inventory whose nodes are a TCP listener on 127.0.0.1 that counts connections (none may arrive)."""
    listener = Listener()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True)
    (tmp_path / "kh").write_text("")
    (tmp_path / "inv.yaml").write_text(inventory_text(listener.port))
    yield tmp_path, listener
    listener.close()


def run(folder: Path, scenario: str, *extra: str) -> subprocess.CompletedProcess[str]:
    (folder / "sc.yaml").write_text(scenario)
    argv = [str(FAULTLAB), "run", str(folder / "sc.yaml"), "--inventory", str(folder / "inv.yaml")]
    if "--artifacts" not in extra:
        argv += ["--artifacts", str(folder / "artifacts")]
    return subprocess.run(
        [*argv, "--state-dir", str(folder / "ledger"), *extra], check=False, capture_output=True, text=True, timeout=60
    )


def one_paragraph(res: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in res.stderr and "Error:" not in res.stderr.split(":", 1)[0], res.stderr
    text = res.stderr.strip()
    assert text.startswith("faultlab run: ") and "\n\n" not in text, text
    return text


@pytest.mark.parametrize(
    ("hold", "says"),
    [
        ('"100000000000000000000s"', "longer than a year"),
        ("100000000000000000000", "longer than a year"),
        ('"2s - {Misc.APDTimeout}s"', "negative for every value the host may have (Misc.APDTimeout 20..999999)"),
    ],
)
def test_impossible_holds_are_bad_input_before_contact(lab_files: tuple[Path, Listener], hold: str, says: str) -> None:
    folder, listener = lab_files
    res = run(folder, scenario_text().replace('hold: "{Misc.APDTimeout}s - 5s"', f"hold: {hold}"))
    assert res.returncode == 2
    text = one_paragraph(res)
    assert "sc.yaml, line 5, key hold: " in text and says in text
    assert listener.accepted == 0


def test_artifacts_that_cannot_exist_are_bad_input(lab_files: tuple[Path, Listener]) -> None:
    folder, listener = lab_files
    res = run(folder, scenario_text(), "--artifacts", "/proc/nope")
    assert res.returncode == 2
    assert "--artifacts /proc/nope: cannot write files there: No such file or directory" in one_paragraph(res)
    assert listener.accepted == 0
    res = run(folder, scenario_text(), "--state-dir", "/proc/nope")  # the later --state-dir wins
    assert res.returncode == 2
    assert "--state-dir /proc/nope: cannot write files there" in one_paragraph(res) and listener.accepted == 0


def test_an_unwritable_artifacts_folder_is_bad_input(lab_files: tuple[Path, Listener]) -> None:
    """Immutable (chattr +i): refuses root too, unlike permission bits."""
    folder, listener = lab_files
    ro = folder / "ro"
    ro.mkdir()
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(ro)], check=False, capture_output=True).returncode:
        pytest.skip("chattr +i is not possible here (needs root on ext4/xfs/btrfs)")
    try:
        for target in (ro, ro / "runs"):
            res = run(folder, scenario_text(), "--artifacts", str(target))
            assert res.returncode == 2
            assert f"--artifacts {target}: cannot write files there: Operation not permitted" in one_paragraph(res)
    finally:
        subprocess.run([chattr, "-i", str(ro)], check=True)
    assert list(ro.iterdir()) == [] and listener.accepted == 0


def test_a_missing_artifacts_folder_is_made_and_a_refused_run_leaves_none(lab_files: tuple[Path, Listener]) -> None:
    folder, _ = lab_files
    res = run(folder, scenario_text().replace("hold:", "hodl:"), "--artifacts", str(folder / "a" / "b"))
    assert res.returncode == 2 and "key hodl" in one_paragraph(res)
    assert not (folder / "a").exists()


def test_big_scenarios_stay_small_downstream(lab_files: tuple[Path, Listener]) -> None:
    """Issue 11 item 11: the largest scenario accepted (just under the read limit) reaches record.json and
    report.html once, bounded; one byte more and nothing is written at all. The run itself fails at the listener
    (no sshd): exit 3 with its record."""
    from faultlab.lab.yamlsource import MAX_FILE_BYTES

    folder, _ = lab_files
    base = scenario_text()
    pad_line = "# " + "x" * 97 + "\n"
    padding = pad_line * ((MAX_FILE_BYTES - len(base) - 200) // len(pad_line))
    big = base + padding
    res = run(folder, big)
    assert res.returncode == 3, res.stderr
    run_dir = next(p for p in (folder / "artifacts").iterdir() if p.is_dir())  # beside it: history.sqlite
    record = run_dir / "record.json"
    assert record.stat().st_size < MAX_FILE_BYTES + 64 * 1024
    html = run_dir / "report.html"
    if html.exists():
        assert html.stat().st_size < 3 * MAX_FILE_BYTES
    over = big + "#" * (MAX_FILE_BYTES - len(big.encode()) + 1) + "\n"
    res = run(folder, over, "--artifacts", str(folder / "over"))
    assert res.returncode == 2 and f"at most {MAX_FILE_BYTES} are read" in one_paragraph(res)
    assert not (folder / "over").exists()
