"""Hostile scenario/inventory files of issue 11 item 7 (shared by tests/unit/test_bounded_yaml.py and
benchmarks/refuse_bad_input.py): each must be refused quickly, in little memory, naming file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

HEAD = "name: bomb\nstory: s\n"


def alias_bomb() -> str:
    """Billion laughs: 9 levels of 9 aliases each, 2 KB on disk, 9**9 (387 million) strings expanded."""
    lines = [HEAD, 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    for i in range(1, 10):
        refs = ",".join([f"*l{i - 1}"] * 9)
        lines.append(f"l{i}: &l{i} [{refs}]\n")
    return "".join(lines)


def merge_bomb() -> str:
    """The same growth through merge keys: each level merges the one below twice."""
    lines = [HEAD, "m0: &m0 {a: 1, b: 2}\n"]
    for i in range(1, 40):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: {i}}}\n")
    return "".join(lines)


def unknown_keys(megabytes: int = 50) -> str:
    """`megabytes` MB of distinct unknown keys."""
    line = "unknown_key_{:09d}: some value that is not a scenario key at all\n"
    n = megabytes * 1024 * 1024 // len(line.format(0))
    return HEAD + "".join(line.format(i) for i in range(n))


def recursive_alias() -> str:
    return HEAD + "expect: &loop {in_order: [*loop]}\n"


def deep_nesting(depth: int = 20_000) -> str:
    return HEAD + "expect: " + "[" * depth + "]" * depth + "\n"


def deep_block_nesting(depth: int = 600) -> str:
    return HEAD + "".join(f"{' ' * i}k{i}:\n" for i in range(depth)) + f"{' ' * depth}x\n"


def nul_bytes() -> str:
    return HEAD + "hold: 30s\x00\x00\nexpect: {}\n"


HOSTILE: dict[str, tuple[Callable[[], str], int]] = {
    # name: (generator, the line the refusal must name)
    "alias-bomb": (alias_bomb, 0),  # 0: any line of the file
    "merge-bomb": (merge_bomb, 0),
    "unknown-keys-50MB": (unknown_keys, 0),
    "recursive-alias": (recursive_alias, 3),
    "deep-nesting-20000": (deep_nesting, 3),
    "deep-block-nesting-600": (deep_block_nesting, 66),
    "nul-bytes": (nul_bytes, 3),
}


def write_hostile(folder: Path) -> dict[str, tuple[Path, int]]:
    """Write every hostile file into `folder`: name -> (path, expected line or 0)."""
    out: dict[str, tuple[Path, int]] = {}
    for name, (make, line) in HOSTILE.items():
        path = folder / f"{name}.yaml"
        path.write_text(make(), encoding="utf-8")
        out[name] = (path, line)
    return out
