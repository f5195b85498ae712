"""Several remote reads in one round trip: the shell lines that frame their outputs, and the parsers that split them."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from faultlab.lab.result import CommandResult, FileStat, quote_command


@dataclass(frozen=True, slots=True)
class FileSlice:
    """A remote file's stat (None: it does not exist) and its bytes from an offset, up to its size at that stat."""

    path: str
    stat: FileStat | None
    data: bytes


def slices_script(reads: Sequence[tuple[str, int, int | None]], token: str) -> str:
    """One shell line reading several files: per file a frame "\\n<token> <i> <size> <inode> <mtime>\\n" (or
    "NONE" when it does not exist, "ERR" when stat fails), then its bytes from the offset (at most `length`, never
    past the size the stat saw). Busybox and coreutils both have stat -c, tail -c +N and head -c."""
    parts = []
    for i, (path, offset, length) in enumerate(reads):
        limit = -1 if length is None else int(length)
        exists = f'p={shlex.quote(path)}; s=NONE; if [ -e "$p" ]; then '
        parts.append(
            exists + "s=$(stat -c '%s %i %Y' -- \"$p\" 2>/dev/null) || s=ERR; fi; "
            f"printf '\\n%s %d %s\\n' {token} {i} \"$s\"; "
            f"case $s in [0-9]*) set -- $s; n=$(($1 - {int(offset)})); "
            f"if [ {limit} -ge 0 ] && [ $n -gt {limit} ]; then n={limit}; fi; "
            f'if [ $n -gt 0 ]; then tail -c +{int(offset) + 1} -- "$p" | head -c $n; fi;; esac'
        )
    return "; ".join(parts)


def parse_slices(
    out: bytes, reads: Sequence[tuple[str, int, int | None]], token: str
) -> list[FileSlice | tuple[str, str]]:
    """The frames of `slices_script` back into FileSlices, in the order asked; a file whose stat failed, or that
    has no frame, is (path, why)."""
    found: dict[int, FileSlice | tuple[str, str]] = {}
    for piece in out.split(b"\n" + token.encode() + b" ")[1:]:
        header, _, data = piece.partition(b"\n")
        fields = header.decode("utf-8", "replace").split()
        if not fields or not fields[0].isdigit() or int(fields[0]) >= len(reads):
            continue
        i = int(fields[0])
        path = reads[i][0]
        if fields[1:] == ["NONE"]:
            found[i] = FileSlice(path, None, b"")
        elif len(fields) == 4 and all(f.isdigit() for f in fields[1:]):
            found[i] = FileSlice(path, FileStat(int(fields[1]), int(fields[2]), int(fields[3])), data)
        else:
            found[i] = (path, f"stat {path} failed")
    return [found.get(i, (reads[i][0], f"no answer for {reads[i][0]}")) for i in range(len(reads))]


def batch_script(commands: Sequence[Sequence[str] | str], token: str) -> str:
    """One shell line running several read-only commands at once (each in the background, its output in a private
    temporary folder), then printing them in order, each framed: "\\n<token> <i> out <status>\\n" + stdout +
    "\\n<token> <i> err\\n" + stderr. One round trip instead of one per command (split: `parse_batch`)."""
    runs, prints = [], []
    for i, argv in enumerate(commands):
        runs.append(f'{{ ( {quote_command(argv)} ) >"$d/{i}.o" 2>"$d/{i}.e" </dev/null; echo $? >"$d/{i}.s"; }} &')
        prints.append(
            f'printf \'\\n%s %d out %s\\n\' {token} {i} "$(cat "$d/{i}.s" 2>/dev/null)"; cat "$d/{i}.o"; '
            f"printf '\\n%s %d err\\n' {token} {i}; cat \"$d/{i}.e\""
        )
    return (
        "d=$(mktemp -d /tmp/faultlab-batch.XXXXXX) || exit 70; trap 'rm -rf \"$d\"' EXIT; "
        + " ".join(runs)
        + " wait; "
        + "; ".join(prints)
    )


def parse_batch(res: CommandResult, commands: Sequence[Sequence[str] | str], token: str) -> list[CommandResult]:
    """`batch_script`'s output back into one CommandResult per command (status -1 and the batch's stderr for a
    command with no frame: the batch itself failed)."""
    outs: dict[int, tuple[int, bytes]] = {}
    errs: dict[int, bytes] = {}
    for piece in res.stdout_bytes.split(b"\n" + token.encode() + b" ")[1:]:
        header, _, data = piece.partition(b"\n")
        fields = header.decode("utf-8", "replace").split()
        if len(fields) < 2 or not fields[0].isdigit():
            continue
        i = int(fields[0])
        if fields[1] == "out":
            status = int(fields[2]) if len(fields) == 3 and fields[2].lstrip("-").isdigit() else -1
            outs[i] = (status, data)
        elif fields[1] == "err":
            errs[i] = data
    results = []
    for i, argv in enumerate(commands):
        status, out = outs.get(i, (-1, b""))
        err = errs[i].decode("utf-8", "replace") if i in errs else res.stderr
        kept: tuple[str, ...] | str = argv if isinstance(argv, str) else tuple(argv)
        results.append(CommandResult(kept, status, out.decode("utf-8", "replace"), err, res.duration, res.host, out))
    return results
