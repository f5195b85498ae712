"""Duration expressions of scenarios ("140s", "1h30m", "{Misc.APDTimeout} + 30s"): a small safe parser, no eval."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

SettingValue = float | int | str
Settings = Mapping[str, SettingValue]

# Seconds per unit; the longest spellings are listed so that "min" is never read as "m" + "in".
_UNITS: dict[str, float] = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}

# The longest duration any expression may give: a year is far beyond any hold, budget or bound, and far inside
# what timedelta holds (a huge literal such as "100000000000000000000s" would overflow it).
MAX_SECONDS = 366 * 86400.0


@dataclass(frozen=True, slots=True)
class SettingRange:
    """The values a real ESXi host accepts for an advanced option (Min Value .. Max Value) and its default."""

    low: float
    high: float
    default: float


# Min/Max/Default Value as real hosts report them (William Lam's per-build dumps of every advanced option, via the
# API, esxi-70u3d/80u3-advanced-settings.md, quoted in /work/shared/reference/esxcli/SOURCES.md). The vSphere 7.0
# Storage guide gives 20-99999 s for Misc.APDTimeout; the host's own Max Value is 999999.
SETTING_RANGES: dict[str, SettingRange] = {
    "misc.apdtimeout": SettingRange(20, 999999, 140),
    "misc.apdhandlingenable": SettingRange(0, 1, 1),
    "nfs.heartbeatfrequency": SettingRange(5, 86400, 12),
    "nfs.heartbeattimeout": SettingRange(3, 30, 5),
    "nfs.heartbeatmaxfailures": SettingRange(6, 10, 10),
    "nfs.heartbeatdelta": SettingRange(3, 30, 5),
    "disk.autoremoveonpdl": SettingRange(0, 1, 1),
}
# A setting faultlab has no range for: any positive number (ESXi time and count options are never negative).
UNKNOWN_RANGE = SettingRange(1, 999999, 1)

_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d*)?|\.\d+)|(?P<word>[A-Za-z]+)|\{(?P<setting>[^{}]*)\}|(?P<op>[-+*/()]))")
_REFERENCE = re.compile(r"^\s*(?P<amount>.*\S)\s+(?:of|after)\s+(?P<ref>[A-Za-z_$][\w.$-]*)\s*$")
_SETTING_REF = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # "num", "word", "setting", "op", "end"
    text: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Val:
    """A value during evaluation: seconds when `duration`, else a plain number (a count, a bare setting)."""

    amount: float
    duration: bool


def _short(text: object) -> str:
    """The expression as messages quote it: at most 80 characters (a huge value stays one short line)."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos:].strip().split()[0] if text[pos:].strip() else text[pos:]
            raise ValueError(f"bad token {bad!r} at position {pos} in duration {_short(text)}")
        kind = m.lastgroup or "op"
        start = m.start(kind) - (1 if kind == "setting" else 0)  # report the "{" of a setting
        toks.append(_Tok(kind, m.group(kind), start))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _normal_setting(name: str) -> str:
    """ "/Misc/APDTimeout", "Misc.APDTimeout" and "misc.apdtimeout" all name one option."""
    return name.strip().strip("/").replace("/", ".").lower()


class _Parser:
    """Recursive descent: expr := term (+|- term)*; term := factor (*|/ factor)*; factor := ( expr ) | quantity."""

    def __init__(self, text: str, settings: Settings | None) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.settings = {_normal_setting(k): (k, v) for k, v in (settings or {}).items()}

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, why: str) -> ValueError:
        shown = tok.text if tok.kind != "end" else "end of text"
        if tok.kind == "setting":
            shown = "{" + tok.text + "}"
        return ValueError(f"bad token {_short(shown)} at position {tok.pos} in duration {_short(self.text)}: {why}")

    def parse(self) -> _Val:
        if self.peek().kind == "end":
            raise ValueError(f"empty duration {_short(self.text)}")
        val = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(tok, "expected an operator (+ - * /) or the end")
        return val

    def expr(self) -> _Val:
        val = self.term()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            rhs = self.term()
            sign = 1.0 if op == "+" else -1.0
            # A bare number or setting added to a duration counts as seconds (ESXi time options are seconds).
            val = _Val(val.amount + sign * rhs.amount, val.duration or rhs.duration)
        return val

    def term(self) -> _Val:
        val = self.factor()
        while self.peek().kind == "op" and self.peek().text in "*/":
            op_tok = self.take()
            rhs = self.factor()
            if op_tok.text == "*":
                if val.duration and rhs.duration:
                    raise self.fail(op_tok, "cannot multiply two durations")
                val = _Val(val.amount * rhs.amount, val.duration or rhs.duration)
            else:
                if rhs.duration:
                    raise self.fail(op_tok, "can only divide by a plain number")
                if rhs.amount == 0:
                    raise self.fail(op_tok, "division by zero")
                val = _Val(val.amount / rhs.amount, val.duration)
        return val

    def factor(self) -> _Val:
        tok = self.peek()
        if tok.kind == "op" and tok.text == "(":
            self.take()
            val = self.expr()
            close = self.take()
            if close.kind != "op" or close.text != ")":
                raise self.fail(close, "expected ')'")
            return val
        if tok.kind == "op" and tok.text == "-":
            self.take()
            inner = self.factor()
            return _Val(-inner.amount, inner.duration)
        if tok.kind == "num":
            return self.number_quantity()
        if tok.kind == "setting":
            self.take()
            amount = self.setting_value(tok)
            return self.maybe_unit(amount)
        if tok.kind == "word":
            raise self.fail(tok, "a unit must follow a number")
        raise self.fail(tok, "expected a number, a {Setting} or '('")

    def number_quantity(self) -> _Val:
        """NUMBER [UNIT (NUMBER UNIT)*]: "140", "2.5s", "1h30m", "1h 30m"."""
        first = self.take()
        val = self.maybe_unit(float(first.text))
        if not val.duration:
            return val
        total = val.amount
        while self.peek().kind == "num" and self.toks[self.i + 1].kind == "word":
            num = self.take()
            total += self.maybe_unit(float(num.text)).amount
        return _Val(total, True)

    def maybe_unit(self, amount: float) -> _Val:
        tok = self.peek()
        if tok.kind != "word":
            return _Val(amount, False)
        self.take()
        factor = _UNITS.get(tok.text.lower())
        if factor is None:
            raise self.fail(tok, f"unknown unit (known: {', '.join(sorted(set(_UNITS)))})")
        return _Val(amount * factor, True)

    def setting_value(self, tok: _Tok) -> float:
        name = tok.text.strip()
        if not name:
            raise self.fail(tok, "empty setting name")
        if not self.settings:
            raise self.fail(tok, "needs the host's settings, none were given")
        found = self.settings.get(_normal_setting(name))
        if found is None:
            known = ", ".join(sorted(k for k, _ in self.settings.values()))
            raise self.fail(tok, f"unknown host setting (known: {known})")
        raw = found[1]
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise self.fail(tok, f"setting value {raw!r} is not a number") from None


def parse_duration(text: str | float | timedelta, settings: Settings | None = None) -> timedelta:
    """Parse a duration: "140s", "5m", "1h30m", "2.5s", "{Misc.APDTimeout} + 30s", "{Misc.APDTimeout}s".

    A bare number or a bare {Setting} means seconds. `*` and `/` take plain numbers or settings, e.g.
    "{NFS.HeartbeatFrequency}s * {NFS.HeartbeatMaxFailures}". Raises ValueError naming the bad token.
    """
    if isinstance(text, timedelta):
        result = text
    elif isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    else:
        seconds = float(text) if isinstance(text, int | float) else _Parser(text, settings).parse().amount
        if not math.isfinite(seconds) or abs(seconds) > MAX_SECONDS:
            raise ValueError(f"duration {_short(text)} is longer than a year ({seconds:g} s): not a useful duration")
        result = timedelta(seconds=seconds)
    if result < timedelta(0):
        raise ValueError(f"duration {_short(text)} is negative ({result.total_seconds()} s)")
    return result


def setting_range(name: str) -> SettingRange:
    """The real range of a host setting ("Misc.APDTimeout", "/Misc/APDTimeout"); UNKNOWN_RANGE if faultlab has none."""
    return SETTING_RANGES.get(_normal_setting(name), UNKNOWN_RANGE)


def check_duration(text: str) -> dict[str, float]:
    """Check an expression without a host: its syntax, and that it is a usable duration for SOME value of each
    setting within the setting's real range. Returns such values (the defaults when they do), for checks that
    evaluate the expression further; raises ValueError naming the range otherwise.

    The expression is evaluated at the ends of each range and the default (exact for the sums, products and
    quotients of settings that durations are made of): "{Misc.APDTimeout}s - 5s" passes (15 s .. 999994 s),
    "2s - {Misc.APDTimeout}s" is refused (negative for every value of Misc.APDTimeout from 20 to 999999)."""
    names = list(dict.fromkeys(settings_in(text)))
    ranges = [setting_range(n) for n in names]
    defaults = {n: r.default for n, r in zip(names, ranges, strict=True)}
    corners = itertools.product(*[(r.default, r.low, r.high) for r in ranges]) if len(names) <= 6 else [()]
    amounts: list[float] = []
    first_error: ValueError | None = None
    for values in corners:
        chosen = dict(zip(names, values, strict=True)) if values else defaults
        try:
            amount = _Parser(text, chosen).parse().amount
        except ValueError as exc:  # e.g. dividing by a setting at 0: another value of the range may do
            first_error = first_error or exc
            continue
        if 0 <= amount <= MAX_SECONDS:
            return chosen
        amounts.append(amount)
    if not amounts:
        assert first_error is not None  # at least one corner was evaluated
        raise first_error
    where = ", ".join(
        f"{n} {r.low:g}..{r.high:g}" + (" (no known range)" if r is UNKNOWN_RANGE else "")
        for n, r in zip(names, ranges, strict=True)
    )
    span = f"{min(amounts):g} s" + (f" .. {max(amounts):g} s" if max(amounts) != min(amounts) else "")
    if max(amounts) < 0:
        why = "is negative"
    elif min(amounts) > MAX_SECONDS:
        why = "is longer than a year"
    else:
        why = "is never between 0 and a year"
    if not names:
        raise ValueError(f"duration {_short(text)} {why} ({span})")
    raise ValueError(f"duration {_short(text)} {why} for every value the host may have ({where}): {span}")


def settings_in(text: str) -> list[str]:
    """The host settings an expression refers to, in order: "{Misc.APDTimeout} + 30s" -> ["Misc.APDTimeout"]."""
    return [m.group(1).strip() for m in _SETTING_REF.finditer(text)]


def split_reference(text: str) -> tuple[str, str | None]:
    """Split the scenario form "5m of fault.healed" / "140s after apd.start" into (amount, reference)."""
    m = _REFERENCE.match(text)
    if m is None:
        return text.strip(), None
    return m.group("amount"), m.group("ref")


def format_seconds(value: timedelta | float) -> str:
    """Human seconds for messages: 12 -> "12.0 s", 2.98 -> "2.98 s", 0.0005 -> "0.001 s"."""
    secs = value.total_seconds() if isinstance(value, timedelta) else float(value)
    text = f"{secs:.3f}".rstrip("0")
    if text.endswith("."):
        text += "0"
    return f"{text} s"


def format_bound(value: timedelta) -> str:
    """A configured bound, shown without needless decimals: 140 s, 2.5 s."""
    secs = value.total_seconds()
    return f"{secs:g} s" if abs(secs) < 1e6 else f"{secs:.0f} s"
