"""YAML that remembers where each key is, so errors (also pydantic ones) say "file, line N, key a.b[0].c"."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from faultlab.lab.errors import ConfigError, Issue

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 booleans: only true/false. In YAML 1.1 `on`, `yes`, `no` are booleans,
    which would turn the scenario key `on:` into True and let `allow_faults: yes` pass for an explicit true."""


_BOOL = "tag:yaml.org,2002:bool"
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Union branches that fail only because the value has another shape; dropped when a precise complaint exists.
_KEY_ERRORS = frozenset({"missing", "extra_forbidden", "union_tag_invalid", "union_tag_not_found"})
_SHAPE_ERRORS = frozenset({"model_type", "dict_type", "string_type", "list_type", "int_type", "is_instance_of"})
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def format_key(loc: Sequence[str | int]) -> str:
    """("hosts", 0, "ssh", "known_hosts") -> "hosts[0].ssh.known_hosts"."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f"[{part!r}]"  # event names hold dots: expect.counts['guest.bsod'].min
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class Source:
    """A parsed YAML document with the 1-based line of every key and list item."""

    name: str  # shown in messages: the path as the user gave it
    data: Any
    lines: dict[Loc, int]
    base_dir: Path  # relative paths in the file count from here

    def data_loc(self, loc: Sequence[str | int], keep_last: bool = True) -> Loc:
        """The part of a pydantic location that exists in the data, plus a missing/extra last key.

        Pydantic inserts union tags ("network-blackhole", "function-after[...]") into locations; they are
        skipped because they name no key of the file."""
        node: Any = self.data
        out: list[str | int] = []
        parts = list(loc)
        for i, part in enumerate(parts):
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if in_dict or in_list:
                node = node[part]
                out.append(part)
            elif keep_last and i == len(parts) - 1 and isinstance(part, str) and isinstance(node, dict):
                out.append(part)  # a missing required key: named, at its parent's line
        return tuple(out)

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """The line of the deepest existing key of `loc`."""
        parts = tuple(loc)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)

    def issue(self, loc: Sequence[str | int], message: str, keep_last: bool = True) -> Issue:
        """An Issue at `loc`; `keep_last` names a last key that is not in the file (missing/unknown key)."""
        where = self.data_loc(loc, keep_last)
        return Issue(self.name, self.line_of(where), format_key(where), message)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        return ConfigError(self.issue(loc, message))

    def validate(self, model: type[M], context: dict[str, Any] | None = None) -> M:
        """Validate the document against `model`; every pydantic error becomes an Issue with file/line/key.

        The offending input value is never echoed: it could be a secret written by mistake."""
        if self.data is None:
            raise ConfigError(Issue(self.name, None, "", "the file is empty"))
        try:
            return model.model_validate(self.data, context=context)
        except ValidationError as exc:
            raise ConfigError(_capped(self.issues_of(exc))) from None

    def issues_of(self, exc: ValidationError) -> list[Issue]:
        errors = exc.errors(include_url=False, include_input=False)
        precise = {self.data_loc(e["loc"], False) for e in errors if e["type"] not in _SHAPE_ERRORS}
        issues: list[Issue] = []
        seen: set[tuple[str, str]] = set()
        for err in errors:
            if err["type"] in _SHAPE_ERRORS:
                at = self.data_loc(err["loc"], False)
                if any(p[: len(at)] == at for p in precise):
                    continue
            msg = err["msg"].removeprefix("Value error, ")
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                msg = "unknown key (check the spelling; the schema lists the allowed keys)"
            elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                disc = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
                loc = (*loc, disc)
                if err["type"] == "union_tag_not_found":
                    msg = f"missing key {disc!r}"
            issue = self.issue(loc, msg, keep_last=err["type"] in _KEY_ERRORS)
            if (issue.key, issue.message) not in seen:  # union branches repeat the same complaint
                seen.add((issue.key, issue.message))
                issues.append(issue)
        return issues


# Limits of a scenario or inventory file (real ones are a few KB): a hostile or broken file is refused quickly and
# in little memory instead of growing without bound (alias bombs, deep nesting, megabytes of keys).
MAX_FILE_BYTES = 256 * 1024
MAX_DEPTH = 64  # nesting of mappings and lists
MAX_NODES = 50_000  # keys, items and scalars counted with every alias expanded (an alias bomb expands exponentially)
MAX_ISSUES = 20  # complaints listed; more are summed up in one line
# YAML's printable set (YAML 1.1 §5.1, as PyYAML's Reader checks it); anything else (NUL, other C0 controls, DEL,
# lone surrogates, U+FFFE/U+FFFF) is named with its line instead of PyYAML's ReaderError traceback.
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _DepthLimitedLoader(_Loader):
    """The composer recurses once per nesting level; stop at MAX_DEPTH before Python's recursion limit does."""

    def __init__(self, stream: str, name: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._name = name

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ConfigError(Issue(self._name, mark.line + 1, "", f"nested more than {MAX_DEPTH} levels deep"))
            node: yaml.Node | None = super().compose_node(parent, index)
            assert node is not None  # an alias or an event always gives a node here
            return node
        finally:
            self._depth -= 1


class _Walker:
    """Records the line of every key and list item; refuses duplicate keys, recursive aliases and documents that
    expand (aliases followed) to more than MAX_NODES nodes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: dict[Loc, int] = {}
        self.count = 0
        self.path: set[int] = set()  # ids of the nodes being walked: an alias to one of them is a cycle

    def too_big(self, node: yaml.Node, why: str) -> ConfigError:
        return ConfigError(Issue(self.name, node.start_mark.line + 1, "", why))

    def walk(self, node: yaml.Node, loc: Loc, record: bool = True) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.too_big(
                node, f"the document has more than {MAX_NODES} keys and values (aliases expanded); refused"
            )
        if id(node) in self.path:
            raise self.too_big(node, "recursive alias: a node contains itself")
        if isinstance(node, yaml.MappingNode):
            self.path.add(id(node))
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.walk(value_node, loc, record=False)  # merged content counts (merge keys expand too)
                    continue
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
                line = key_node.start_mark.line + 1
                if record and key in seen:
                    raise ConfigError(
                        Issue(
                            self.name,
                            line,
                            format_key((*loc, key)),
                            f"duplicate key (first written on line {seen[key]})",
                        )
                    )
                seen[key] = line
                if record:
                    self.lines[(*loc, key)] = line
                self.walk(value_node, (*loc, key), record)
            self.path.discard(id(node))
        elif isinstance(node, yaml.SequenceNode):
            self.path.add(id(node))
            for i, item in enumerate(node.value):
                if record:
                    self.lines[(*loc, i)] = item.start_mark.line + 1
                self.walk(item, (*loc, i), record)
            self.path.discard(id(node))


def _check_printable(text: str, name: str) -> None:
    bad = _NOT_PRINTABLE.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        char = f"U+{ord(bad.group()):04X}"
        raise ConfigError(Issue(name, line, "", f"character {char} is not allowed in YAML (binary data?)"))


def parse_yaml(text: str, name: str, base_dir: Path | None = None) -> Source:
    """Parse one YAML document (safe loader) and record the line of each key. Syntax errors name the line.

    Bounded: over MAX_FILE_BYTES, MAX_DEPTH levels or MAX_NODES nodes (aliases expanded), a recursive alias or a
    character YAML does not allow is a ConfigError naming the line, raised before anything big is built."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_FILE_BYTES:
        raise ConfigError(_too_large(name, text, size))
    _check_printable(text, name)
    loader = _DepthLimitedLoader(text, name)
    try:
        node = loader.get_single_node()
        walker = _Walker(name)
        if node is not None:
            walker.lines[()] = node.start_mark.line + 1
            walker.walk(node, ())
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise ConfigError(Issue(name, line, "", f"YAML syntax error: {problem}")) from None
    except yaml.YAMLError as exc:
        raise ConfigError(Issue(name, None, "", f"YAML error: {exc}")) from None
    finally:
        loader.dispose()
    return Source(name, data, walker.lines, base_dir if base_dir is not None else Path.cwd())


def _too_large(name: str, text: str, size: int) -> Issue:
    """The line where the file passes the limit."""
    line = text.encode("utf-8", "surrogatepass")[:MAX_FILE_BYTES].count(b"\n") + 1
    return Issue(name, line, "", f"the file is {size} bytes or more; at most {MAX_FILE_BYTES} are read (refused)")


def load_yaml(path: str | Path) -> Source:
    """Read and parse a YAML file; an unreadable file is a ConfigError naming it. At most MAX_FILE_BYTES + 1 bytes
    are read, so a huge file (or /dev/zero) costs no memory."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(_too_large(str(path), raw.decode("utf-8", "replace"), len(raw)))
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(Issue(str(path), line, "", f"not UTF-8 text (byte {exc.start})")) from None
    except OSError as exc:
        raise ConfigError(Issue(str(path), None, "", f"cannot read the file: {exc}")) from None
    return parse_yaml(text, str(path), p.resolve().parent)


def raise_if(issues: Iterable[Issue]) -> None:
    """Raise one ConfigError listing the `issues`, if there are any (at most MAX_ISSUES, then a count)."""
    found = list(issues)
    if found:
        raise ConfigError(_capped(found))


def _capped(issues: list[Issue]) -> list[Issue]:
    if len(issues) <= MAX_ISSUES:
        return issues
    rest = len(issues) - MAX_ISSUES
    last = Issue(issues[MAX_ISSUES].file, None, "", f"... and {rest} more problem(s) like these")
    return [*issues[:MAX_ISSUES], last]
