"""Issue 11 item 7: hostile scenario and inventory files are refused with file and line, never parsed without
bound (alias bombs, megabytes of keys, recursive aliases, deep nesting, NUL bytes); the CLI exits 2, no traceback.
Time and peak memory of the refusals are measured by benchmarks/refuse_bad_input.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faultlab.harness.scenario import load_scenario, parse_scenario
from faultlab.lab.errors import ConfigError
from faultlab.lab.inventory import load_inventory
from faultlab.lab.yamlsource import MAX_DEPTH, MAX_FILE_BYTES, MAX_ISSUES, load_yaml, parse_yaml
from tests.unit.hostile_yaml import HOSTILE, write_hostile

FAULTLAB = Path(sys.executable).parent / "faultlab"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int]]:
    return write_hostile(tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("loader", [load_scenario, load_inventory], ids=["scenario", "inventory"])
def test_hostile_file_is_refused_with_its_line(name: str, loader: object, hostile: dict[str, tuple[Path, int]]) -> None:
    path, line = hostile[name]
    with pytest.raises(ConfigError) as info:
        loader(path)  # type: ignore[operator]
    err = info.value
    assert err.file == str(path)
    assert err.line is not None and err.line >= 1
    if line:
        assert err.line == line
    assert len(str(err)) < 400  # one paragraph, not 50 MB of complaints


def test_each_limit_says_what_it_is(hostile: dict[str, tuple[Path, int]]) -> None:
    def msg(name: str) -> str:
        with pytest.raises(ConfigError) as info:
            load_yaml(hostile[name][0])
        return str(info.value)

    assert "aliases expanded" in msg("alias-bomb") and "aliases expanded" in msg("merge-bomb")
    assert f"at most {MAX_FILE_BYTES} are read" in msg("unknown-keys-50MB")
    assert "recursive alias" in msg("recursive-alias")
    assert f"nested more than {MAX_DEPTH} levels" in msg("deep-nesting-20000")
    assert "U+0000" in msg("nul-bytes")


def test_endless_file_is_read_only_up_to_the_limit() -> None:
    with pytest.raises(ConfigError, match=f"at most {MAX_FILE_BYTES} are read"):
        load_yaml("/dev/zero")


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    f = tmp_path / "latin1.yaml"
    f.write_bytes(b"name: x\nstory: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(f)
    assert (info.value.line, "not UTF-8" in str(info.value)) == (2, True)


def test_limits_leave_real_files_alone() -> None:
    """Every shipped scenario and the example inventory are far below the limits; so is a long, legal file."""
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert load_scenario(path).name == path.stem
    ok = parse_yaml("a: &x {b: [1, 2]}\nc: *x\nd: {<<: *x, e: 3}\n" + "# pad\n" * 30_000, "f.yaml")
    assert ok.data == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}, "d": {"b": [1, 2], "e": 3}}
    nested = "x: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert parse_yaml(nested, "n.yaml").data is not None


def test_many_mistakes_are_summed_up() -> None:
    with pytest.raises(ConfigError) as info:
        parse_scenario("name: x\nstory: s\n" + "".join(f"k{i}: 1\n" for i in range(100)), "keys.yaml")
    issues = info.value.issues
    assert len(issues) == MAX_ISSUES + 1
    assert issues[-1].message.startswith("... and ") and "more problem(s)" in issues[-1].message


def test_cli_refuses_hostile_files_with_exit_2(hostile: dict[str, tuple[Path, int]], tmp_path: Path) -> None:
    for name in ("key", "known_hosts"):
        (tmp_path / name).write_text("")
    inv = tmp_path / "inventory.yaml"
    inv.write_text(
        f"version: 1\nssh: {{user: root, private_key: {tmp_path / 'key'}, known_hosts: {tmp_path / 'known_hosts'}}}\n"
        "hosts: [{name: esx01, address: 198.18.0.10}]\n"
    )
    artifacts = tmp_path / "artifacts"
    for name in ("alias-bomb", "unknown-keys-50MB", "deep-nesting-20000", "nul-bytes"):
        path, _ = hostile[name]
        res = subprocess.run(
            [str(FAULTLAB), "run", str(path), "--inventory", str(inv), "--artifacts", str(artifacts)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert res.returncode == 2, (name, res.stderr)
        assert "Traceback" not in res.stderr and f"{path}, line " in res.stderr
        as_inventory = subprocess.run(
            [str(FAULTLAB), "run", str(ROOT / "scenarios" / "nfs-apd-bsod.yaml"), "--inventory", str(path)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert as_inventory.returncode == 2 and f"{path}, line " in as_inventory.stderr, as_inventory.stderr
    assert not artifacts.exists()  # refused before any record was written
