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
            raise ConfigError(self.issues_of(exc)) from None

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


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], name: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    Issue(name, line, format_key((*loc, key)), f"duplicate key (first written on line {seen[key]})")
                )
            seen[key] = line
            lines[(*loc, key)] = line
            _walk(value_node, (*loc, key), lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*loc, i)] = item.start_mark.line + 1
            _walk(item, (*loc, i), lines, name)


def parse_yaml(text: str, name: str, base_dir: Path | None = None) -> Source:
    """Parse one YAML document (safe loader) and record the line of each key. Syntax errors name the line."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        if node is not None:
            lines[()] = node.start_mark.line + 1
            _walk(node, (), lines, name)
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
    return Source(name, data, lines, base_dir if base_dir is not None else Path.cwd())


def load_yaml(path: str | Path) -> Source:
    """Read and parse a YAML file; an unreadable file is a ConfigError naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Issue(str(path), None, "", f"cannot read the file: {exc}")) from None
    return parse_yaml(text, str(path), p.resolve().parent)


def raise_if(issues: Iterable[Issue]) -> None:
    """Raise one ConfigError listing all `issues`, if there are any."""
    found = list(issues)
    if found:
        raise ConfigError(found)
