"""Reading esxcli / vim-cmd output into rows: csv, human tables, "Key: Value" blocks, getallvms, power state, faults.

General rules taken from real output (tests/fixtures/esxcli/, SOURCES.md there names every sample):
- `esxcli --formatter=csv`: a header of the field names without their spaces (VolumeName, MountPoint), every line
  ending in a comma, list values quoted with a comma after each item; cells keep esxcli's padding ("ATA     ").
- A human table: a header, a line of dash runs giving the column extents, rows. Cells are separated by at least
  two spaces; right-aligned cells (numbers, booleans) end at their dash run's end, an empty cell leaves a gap.
- A "Key: Value" block list: an id line, then the fields; the id may end in a colon (older hosts, localcli) and
  may carry the fields' own indentation; blank lines may sit between fields; a list without id lines (advanced
  settings) starts a new block when a key repeats.
- vim-cmd getallvms: columns separated by three or more spaces but not aligned with the header; an annotation may
  run over several lines; the datastore may be empty (`[] /var/run/crx/...` vCLS VMs).
- A vim-cmd fault block `(vim.fault.X) {` ... `msg = "..."` ... `}` raises VimFaultError.
A line that fits none of these is kept in `Parsed.odd` (with its number and why), never dropped silently."""

from __future__ import annotations

import csv
import io
import logging
import re
import shlex
import xml.etree.ElementTree as ET  # expat >= 2.4 limits entity amplification
from collections import Counter
from dataclasses import dataclass, field

from faultlab.lab.errors import VimFaultError

log = logging.getLogger(__name__)

_DASHES = re.compile(r" *-+(?: +-+)* *")
_CELL = re.compile(r"\S+(?: \S+)*")  # words separated by single spaces: one cell of a human table
_FIELD = re.compile(r"^(?P<ind>\s*)(?P<key>[A-Za-z][A-Za-z0-9 /()_-]*?)\s*:(?:\s(?P<value>.*))?$")
_CSV_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9()/_ .-]*$")
_FAULT = re.compile(
    r"^(?:(?P<context>.*?):\s*)?\((?P<fault>(?:vim|vmodl)\.fault\.[\w.]+|vmodl\.(?:Runtime|Method)Fault)\)\s*\{\s*$"
)
_MSG = re.compile(r'^(?P<ind>\s*)msg = "(?P<msg>.*)",?\s*$')
_VM_ROW = re.compile(
    r"^(?P<vmid>\d+)\s+(?P<name>.+?)\s{2,}(?P<file>\[[^\]]*\] (?:\S| (?! ))+?)\s{2,}(?P<guest>\S+)\s{2,}"
    r"(?P<version>\S+)(?:\s{2,}(?P<annotation>.*?))?\s*$"
)
_VM_ROW_START = re.compile(r"^\d+\s{2,}\S.*?\s{2,}\[[^\]]*\] \S")
_SKIPPING = re.compile(r"^Skipping invalid VM '\d+'\s*$")
_VM_COLUMNS = ("Vmid", "Name", "File", "Guest OS", "Version", "Annotation")
_RUNTIME_INFO = "Retrieved runtime info"
# VirtualMachinePowerState as vim-cmd prints it: "Powered on" / "Powered off" seen (reference/esxcli/power-getstate.*),
# "Suspended" for the API's third state (suspended) is not seen in a published transcript
_POWER_STATES = ("Powered on", "Powered off", "Suspended")
# Column names that contain a space, for a table whose spacing a publisher collapsed to single spaces (the only
# case where the header's words cannot be told apart by position). Taken from the real headers in the fixtures.
_SPACED_NAMES = ("Volume Name", "Mount Point", "Hardware Acceleration", "Guest OS")


@dataclass
class Parsed:
    """What one command printed: rows (one dict per table row or block), the layout read, and the odd lines."""

    rows: list[dict[str, str]]
    form: str  # csv | xml | table | blocks | getallvms | power | empty
    odd: list[str] = field(default_factory=list)  # "line N: <text> (<why>)"


def parse_output(command: str, text: str) -> list[dict[str, str]]:
    """One dict per table row or block of `command`'s output, keys exactly as ESXi printed them, values stripped.

    A block's id line is under "id"; `vim-cmd vmsvc/power.getstate N` gives `[{"state": "Powered on"}]`.
    Raises VimFaultError when vim-cmd printed a fault block. Lines that fit no rule are logged as warnings;
    `read_output` returns them too."""
    parsed = read_output(command, text)
    for line in parsed.odd:
        log.warning("%s: %s", command, line)
    return parsed.rows


def read_output(command: str, text: str) -> Parsed:
    """parse_output with the layout it found and the odd lines kept."""
    raise_fault(text)
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: the words are enough to tell the command
        words = command.split()
    verb = next((w for w in words[1:] if not w.startswith("-")), "")  # vmsvc/getallvms for /bin/vim-cmd too
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), None)
    if first is None:
        return Parsed([], "empty")
    if verb == "vmsvc/getallvms" or first.startswith("Vmid "):
        return _getallvms(lines)
    if verb == "vmsvc/power.getstate" or first == _RUNTIME_INFO:
        return _power(lines)
    dash = _dash_line(lines)
    if dash is not None:
        return _table(lines, dash, ended=text.endswith(("\n", "\r")))
    if text.lstrip().startswith(("<?xml", "<output")):
        return _xml(text)
    if _looks_csv(lines):
        return _csv(text)
    return _blocks(lines)


def raise_fault(text: str) -> None:
    """Raise VimFaultError when `text` holds a vim-cmd fault block (its type and its top-level msg)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _FAULT.match(line.strip())
        if m is None:
            continue
        found = [(len(g["ind"]), g["msg"]) for g in map(_MSG.match, lines[i + 1 :]) if g is not None]
        msg = min(found, key=lambda f: f[0])[1] if found else ""
        raise VimFaultError(m["fault"], msg, context=(m["context"] or "").strip())


# -- csv ----------------------------------------------------------------------------------------------------


def _looks_csv(lines: list[str]) -> bool:
    """esxcli's csv formatter ends every line with a comma (header and rows)."""
    full = [line for line in lines if line.strip()]
    return all(line.rstrip().endswith(",") for line in full)


def _csv(text: str) -> Parsed:
    out = Parsed([], "csv")
    try:
        records = [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text)), 1) if any(c.strip() for c in r)]
    except csv.Error as exc:  # a NUL byte, an unterminated quote at the end
        out.odd.extend(f"line {n}: {line.rstrip()} (not csv: {exc})" for n, line in _numbered(text.splitlines(), 0))
        return out
    if not records:
        return out
    header = records[0][1]
    header = header[:-1] if header and header[-1] == "" else header
    if not header or not all(_CSV_KEY.match(k.strip()) for k in header):
        out.odd.extend(f"line {n}: {','.join(r)} (csv without a header line)" for n, r in records)
        return out
    for n, row in records[1:]:
        cells = row[:-1] if len(row) == len(header) + 1 and row[-1] == "" else row
        if len(cells) != len(header):
            out.odd.append(f"line {n}: {','.join(row)} ({len(cells)} cells for {len(header)} columns)")
            continue
        out.rows.append({k.strip(): _csv_value(v) for k, v in zip(header, cells, strict=True)})
    return out


def _csv_value(value: str) -> str:
    """A list comes quoted with a comma after each item ("vml.01...,"): items joined by ", "."""
    v = value.strip()
    if v.endswith(","):
        return ", ".join(item.strip() for item in v.split(",") if item.strip())
    return v


# -- xml ----------------------------------------------------------------------------------------------------


def _xml(text: str) -> Parsed:
    """`esxcli --formatter=xml`: <output><root><list type="structure"><structure typeName=...><field name=...>
    <string>|<integer>|<boolean>...</field>; one row per top-level structure (or the root's one structure)."""
    out = Parsed([], "xml")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        out.odd.append(f"line {exc.position[0]}: not well-formed xml ({exc})")
        return out

    def walk(node: ET.Element) -> None:
        for child in node:
            if _local(child.tag) == "structure":
                out.rows.append({f.get("name", ""): _xml_value(f) for f in child if _local(f.tag) == "field"})
            elif _local(child.tag) in ("root", "list"):
                walk(child)

    walk(root)
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_value(field: ET.Element) -> str:
    """A leaf's text; a list's items joined by ", "; a nested structure as "name=value" pairs."""
    parts = []
    for value in field:
        if _local(value.tag) == "list":
            parts.append(", ".join(_xml_value(item) if len(item) else (item.text or "").strip() for item in value))
        elif _local(value.tag) == "structure":
            parts.append(", ".join(f"{f.get('name', '')}={_xml_value(f)}" for f in value))
        else:
            parts.append((value.text or "").strip())
    return ", ".join(parts)


# -- human tables ---------------------------------------------------------------------------------------------


def _dash_line(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if i > 0 and line.strip() and _DASHES.fullmatch(line) and lines[i - 1].strip():
            return i
    return None


def _table(lines: list[str], dash: int, ended: bool = True) -> Parsed:
    out = Parsed([], "table")
    out.odd.extend(f"line {n}: {line.rstrip()} (before the table)" for n, line in _numbered(lines[: dash - 1], 0))
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[dash])]
    header = lines[dash - 1]
    names = _header_names(header, spans)
    collapsed = names is None
    if names is None:  # every run of spaces was collapsed to one (a publisher's doing): read by word order
        names = _collapsed_names(header)
    if len(names) != len(spans) or not all(names):
        out.odd.extend(f"line {n}: {line.rstrip()} (table header unreadable)" for n, line in _numbered(lines, dash))
        return out
    for n, row in _numbered(lines, dash + 1):
        cells = _collapsed_cells(row, len(names)) if collapsed else _cells(row, spans)
        if cells is None:
            out.odd.append(f"line {n}: {row.rstrip()} (cells do not fit the columns)")
            continue
        if collapsed:
            out.odd.append(f"line {n}: {row.rstrip()} (spacing collapsed: cells read by word order)")
        elif "\t" in row:  # esxcli pads with spaces only: a tab is a publisher's, and moves the columns
            out.odd.append(f"line {n}: {row.rstrip()} (a tab in a table row: cells may be misplaced)")
        elif n == len(lines) and not ended and cells[-1] == "" and len(cells) > 1:
            # esxcli ends every row with a newline: a last row without one that stops before its last
            # column(s) was cut off (a copy cut mid-row); keep what is there and say so
            out.odd.append(f"line {n}: {row.rstrip()} (cut short: no newline and no cell under {names[-1]!r})")
        out.rows.append(dict(zip(names, cells, strict=True)))
    return out


def _numbered(lines: list[str], start: int) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(lines[start:], start + 1) if line.strip()]


def _assign(tokens: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int] | None:
    """The column of each token: as many tokens as columns go in order (a row whose names were replaced without
    re-padding); otherwise by the dash run they overlap most (or the nearest one). None if out of order."""
    if len(tokens) == len(spans):
        return list(range(len(spans)))
    cols: list[int] = []
    for a, b in tokens:
        overlap = [min(b, e) - max(a, s) for s, e in spans[:-1]] + [b - max(a, spans[-1][0])]
        best = max(range(len(spans)), key=lambda c: overlap[c])
        if overlap[best] <= 0:
            best = min(range(len(spans)), key=lambda c: min(abs(a - spans[c][1]), abs(b - spans[c][0])))
        if cols and best < cols[-1]:
            return None
        cols.append(best)
    return cols


def _cells(row: str, spans: list[tuple[int, int]]) -> list[str] | None:
    tokens = [(m.start(), m.end()) for m in _CELL.finditer(row)]
    cols = _assign(tokens, spans)
    if cols is None:
        return None
    cells = [""] * len(spans)
    first: dict[int, int] = {}
    for (a, b), c in zip(tokens, cols, strict=True):
        start = first.setdefault(c, a)
        cells[c] = row[start:b].strip()  # two tokens in one column: a value holding a double space
    return cells


def _header_names(header: str, spans: list[tuple[int, int]]) -> list[str] | None:
    """The column names by position; None when the dash runs are one space apart (spacing collapsed)."""
    if len(spans) > 1 and all(spans[i + 1][0] - spans[i][1] == 1 for i in range(len(spans) - 1)):
        return None
    return _cells(header, spans) or []


def _collapsed_names(header: str) -> list[str]:
    words, names, i = header.split(), list[str](), 0
    while i < len(words):
        pair = " ".join(words[i : i + 2])
        names.append(pair if pair in _SPACED_NAMES else words[i])
        i += 2 if pair in _SPACED_NAMES else 1
    return names


def _collapsed_cells(row: str, n: int) -> list[str] | None:
    words = row.split()
    if len(words) < n:
        return None
    return [*words[: n - 1], " ".join(words[n - 1 :])]  # the last column (free text) takes the rest


# -- "Key: Value" blocks --------------------------------------------------------------------------------------


def _blocks(lines: list[str]) -> Parsed:
    out = Parsed([], "blocks")
    fields = [(i, m) for i, m in ((i, _FIELD.match(line)) for i, line in enumerate(lines)) if m is not None]
    indent = Counter(len(m["ind"]) for _, m in fields).most_common(1)[0][0] if fields else 0
    by_line = dict(fields)
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    idless = first in by_line  # a list that starts with a field (advanced settings) has no id lines at all
    blocks: list[_Block] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = by_line.get(n - 1)
        if m is not None and (len(m["ind"]) >= indent or m["value"]):
            key, value = m["key"].strip(), (m["value"] or "").strip()
            current = blocks[-1] if blocks else None
            if current is None or (key in current.row and "id" not in current.row):
                current = _Block(n, {})
                blocks.append(current)
            if key in current.row:
                out.odd.append(f"line {n}: {line.rstrip()} (key {key!r} repeated in block {current.row.get('id')!r})")
            else:
                current.row[key] = value
                current.last = n
        elif any(ch.isalnum() for ch in line) and not idless:
            blocks.append(_Block(n, {"id": line.strip().removesuffix(":").rstrip()}, line=line.rstrip()))
        else:
            why = "not 'Key: Value' in a list without id lines" if idless else "neither a block id nor 'Key: Value'"
            out.odd.append(f"line {n}: {line.rstrip()} ({why})")
    _join_wrapped(blocks, out)
    for b in blocks:
        if list(b.row) == ["id"]:  # esxcli prints no block without fields: a stray line (a wrapped prompt)
            out.odd.append(f"line {b.start}: {b.line} (a block id with no fields after it)")
        else:
            out.rows.append(b.row)
    _cut_last_block(out)
    return out


@dataclass
class _Block:
    start: int  # line number of the id line (or of the first field)
    row: dict[str, str]
    last: int = 0  # line number of the last field read
    line: str = ""  # the id line as printed


def _join_wrapped(blocks: list[_Block], out: Parsed) -> None:
    """esxcli prints a list's fields in one fixed order, so every block starts with the same key ("Display
    Name", "UID"). A "block" whose first field is not that key is the rest of the previous block after a long
    line was wrapped (a terminal or a publisher's fixed width): its "id" is the cut-off end of the previous
    field's value. Join it back and say so."""
    lead = next((k for b in blocks if "id" in b.row for k in b.row if k != "id"), "")
    i = 1
    while i < len(blocks):
        b, prev = blocks[i], blocks[i - 1]
        keys = [k for k in b.row if k != "id"]
        if lead and "id" in b.row and keys and lead not in keys and not set(keys) & set(prev.row):
            last_key = next(reversed(prev.row))
            prev.row[last_key] += b.row["id"]
            prev.row.update({k: b.row[k] for k in keys})
            prev.last = b.last
            out.odd.append(f"line {b.start}: {b.line} (the end of a wrapped line: joined to {last_key!r})")
            del blocks[i]
        else:
            i += 1


def _cut_last_block(out: Parsed) -> None:
    """The last block holding only the first keys of the block before it, in the same order, was cut short."""
    if len(out.rows) < 2:
        return
    last, prev = list(out.rows[-1]), list(out.rows[-2])
    if len(last) < len(prev) and prev[: len(last)] == last:
        missing = ", ".join(prev[len(last) :][:3])
        out.odd.append(f"last block {out.rows[-1].get('id')!r}: ends before {missing}... (output cut short?)")


# -- vim-cmd --------------------------------------------------------------------------------------------------


def _getallvms(lines: list[str]) -> Parsed:
    out = Parsed([], "getallvms")
    names = list(_VM_COLUMNS)
    seen_header = False
    notes: list[str] = []  # the annotation lines of the current row
    for n, line in enumerate(lines, 1):
        m = _VM_ROW.match(line.strip())
        if m is not None:
            _close_annotation(out, names, notes)
            cells = [m["vmid"], m["name"], m["file"], m["guest"], m["version"]]
            out.rows.append(dict(zip(names, cells, strict=False)))
            notes = [m["annotation"] or ""]
        elif not seen_header and line.strip().startswith("Vmid") and not out.rows:
            seen_header = True
            header = [c for c in re.split(r"\s{2,}", line.strip()) if c]
            names = header if len(header) >= 5 else names
        elif _SKIPPING.match(line):  # vim-cmd's own message about a VM it cannot list (getallvms.12.txt)
            out.odd.append(f"line {n}: {line.rstrip()} (not a getallvms row)")
        elif _VM_ROW_START.match(line.strip()):  # Vmid, name, [datastore] path: a row, but cut or malformed
            out.odd.append(f"line {n}: {line.rstrip()} (a getallvms row missing its Guest OS / Version)")
        elif out.rows:
            notes.append(line.rstrip())  # an annotation running over several lines (blank ones included)
        elif line.strip():
            out.odd.append(f"line {n}: {line.rstrip()} (not a getallvms row)")
    _close_annotation(out, names, notes)
    return out


def _close_annotation(out: Parsed, names: list[str], notes: list[str]) -> None:
    if out.rows:
        key = names[5] if len(names) > 5 else "Annotation"
        text = "\n".join(notes).strip()
        if text or len(names) > 5:
            out.rows[-1][key] = text


def _power(lines: list[str]) -> Parsed:
    """`Retrieved runtime info` then the state line ("Powered on", "Powered off", "Suspended")."""
    out = Parsed([], "power")
    kept = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]
    states = [(n, s) for n, s in kept if s != _RUNTIME_INFO]
    if states:
        out.rows.append({"state": states[-1][1]})
        out.odd.extend(f"line {n}: {s} (more than one state line)" for n, s in states[:-1])
        if states[-1][1] not in _POWER_STATES:
            out.odd.append(f"line {states[-1][0]}: {states[-1][1]} (not a power state vim-cmd prints)")
    return out
