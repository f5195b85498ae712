"""Duration expressions of scenarios ("140s", "1h30m", "{Misc.APDTimeout} + 30s"): a small safe parser, no eval."""

from __future__ import annotations

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


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = text[pos:].strip().split()[0] if text[pos:].strip() else text[pos:]
            raise ValueError(f"bad token {bad!r} at position {pos} in duration {text!r}")
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
        return ValueError(f"bad token {shown!r} at position {tok.pos} in duration {self.text!r}: {why}")

    def parse(self) -> _Val:
        if self.peek().kind == "end":
            raise ValueError(f"empty duration {self.text!r}")
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
    elif isinstance(text, int | float):
        result = timedelta(seconds=float(text))
    else:
        result = timedelta(seconds=_Parser(text, settings).parse().amount)
    if result < timedelta(0):
        raise ValueError(f"duration {text!r} is negative ({result.total_seconds()} s)")
    return result


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
