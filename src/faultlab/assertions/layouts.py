"""ESXi log line layouts: split one raw line into header fields and message body; never raises."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from faultlab.assertions.lazyre import LazyPattern, lazy_re
from faultlab.assertions.model import LogKind, LogLine

__all__ = ["kind_from_filename", "parse_line"]

# ---------------------------------------------------------------------------------------------------
# File names -> log kind

_KIND_BY_NAME: tuple[tuple[LazyPattern, LogKind], ...] = (
    (lazy_re(r"^(vmkernel|vmkwarning|vmkalert)\b"), LogKind.VMKERNEL),
    (lazy_re(r"^vobd\b"), LogKind.VOBD),
    (lazy_re(r"^hostd\b(?!-probe)"), LogKind.HOSTD),
    (lazy_re(r"^vmware(-\d+)?\.log\b|^vmware\S*\.log\b"), LogKind.VMWARE),
    (lazy_re(r"^vmksummary\b"), LogKind.VMKSUMMARY),
)
# Non-log content found in bundles and log folders.
_NOT_LOG = lazy_re(
    r"\.(vmx|vmdk|vmsd|vmxf|nvram|vswp|vmem|vmsn|png|jpg|jpeg|gif|py|pyc|so|json|xml|html|zdump|core)$"
    r"|\.tgz$|\.tar(\.gz)?$|^\."
)


def kind_from_filename(name: str) -> LogKind | None:
    """The log kind of a file name (any folder part is ignored); None for a clearly non-log file."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    if not base:
        return None
    for pattern, kind in _KIND_BY_NAME:
        if pattern.search(base):
            return kind
    if _NOT_LOG.search(base):
        return None
    return LogKind.OTHER


# ---------------------------------------------------------------------------------------------------
# Timestamps

_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
# An ISO timestamp, digits or the masks KBs use (YYYY-MM-DDTHH:MM:SS.###Z, 2025-MM-DDThh:mm:ss.266Z ...).
_TS = lazy_re(
    r"([0-9Yy]{4})-([0-9Mm]{2})-([0-9Dd]{2})T([0-9Hh]{2}):([0-9Mm]{2}):([0-9Ss]{2})"
    r"(?:\.([0-9#Xx]{1,9}))?(Z|[+-]\d\d:?\d\d)?"
)
_DATE_ONLY = lazy_re(r"(\d{4})-(\d\d)-(\d\d)(?= )")
_TRUNCATED_TS = lazy_re(r"\d{1,3}-\d\d-\d\dT\d\d:")
_MASK_CHARS = frozenset("YyMDdHhmSs#Xx")
# KB placeholders written where the time was: "<date and time>", "<YYYY-MM-DD>T<TIME>", "<timestamp>"; a
# syslog priority "<14>" is digits only and never names a date or time
_RE_PLACEHOLDER_TS = lazy_re(
    r"(?:<[^<>\d][^<>]{0,30}>[T ]?)*<[^<>\d]*(?:date|time|yyyy|hh:mm)[^<>]*>(?:\.[^\s]*)?Z?", re.I
)


def _mk_time(parts: Sequence[int], frac: str | None) -> datetime | None:
    """A UTC datetime of (year, month, day, hour, minute, second), or None for impossible values
    (month 13, hour 25); a leap second is clamped."""
    if len(parts) != 6:
        return None
    year, month, day, hour, minute, second = parts
    micro = int(frac.ljust(6, "0")[:6]) if frac else 0
    if second == 60:  # leap second: keep the order of events, datetime cannot hold :60
        second, micro = 59, 999_999
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _iso_time(m: re.Match[str]) -> tuple[datetime | None, bool]:
    """(time, masked) of a _TS match."""
    text = m.group(0)
    if any(c in _MASK_CHARS for c in text):
        return None, True
    frac = m.group(7)
    t = _mk_time([int(m.group(i)) for i in range(1, 7)], frac)
    tz = m.group(8)
    if t is not None and tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            t = t - sign * offset
        except OverflowError:  # year 1 or 9999 shifted out of range
            t = None
    return t, False


def _epoch_time(text: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


# ---------------------------------------------------------------------------------------------------
# Header shapes (precompiled; each is tried only after a cheap first-character dispatch)

_SEV8 = r"(Em|Al|Cr|Er|Wa|No|In|Db)\((\d+)\)(\+|\[\+\])?"
_RE_ESXI8_SYSLOG = lazy_re(_SEV8 + r" ([\w.\-]+)(?:\[([^\]\s]*)\])?: ?(.*)", re.S)
_RE_ESXI8_VMX = lazy_re(_SEV8 + r" (\S+)(?: (\S+))?(?: (.*)|$)", re.S)
_RE_VMK_PREFIX = lazy_re(r"cpu(\d+|<\w+>):(\w+)(?: opID=(\S+))?\)")
_LEVELS = r"(verbose|info|warning|error|trivia|panic|critical|debug)"
_RE_HOSTD6 = lazy_re(_LEVELS + r" ([\w.\-]+)\[(\w+)\] ?(.*)", re.S)
_RE_HOSTD5 = lazy_re(r"\[(\w+) " + _LEVELS + r" '([^']*)'[^\]]*\] ?(.*)", re.S)
_RE_TAGGED = lazy_re(r"([A-Za-z][\w.\-]*)\[([^\]\s]*)\]: ?(.*)", re.S)
_RE_TAGGED_NOTS = lazy_re(r"([a-z][\w.\-]*)\[(\d+)\]:? +(.*)", re.S)
_RE_PROG = lazy_re(r"([A-Za-z][\w.\-]*): (.*)", re.S)
_RE_VMX7 = lazy_re(r"\| ?([^|]*)\| ([A-Z]\d+): ?(.*)", re.S)
_RE_VMX8_NOSEV = lazy_re(r"([a-z][\w.\-]*) (-|[0-9A-Za-z][\w\-]*) (.*)", re.S)
_RE_SYSLOG = lazy_re(
    r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d) (?:([\w.\-]+) )??([\w.\-]+)(?:\[(\w+)\])?: ?(.*)",
    re.S,
)
_RE_UPTIME = lazy_re(r"(\d+:\d\d:\d\d:\d\d\.\d{3}) cpu(\d+):(\w+)\)(.*)", re.S)
_RE_VOBD4 = lazy_re(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\.(\d{3}): (.*)", re.S)
# ESX 3.x/4.x vmware.log: "Aug 20 20:11:30.540: vcpu-0| msg" (no year; the VMX writes it, not syslog)
_RE_VMX_OLD = lazy_re(r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\.(\d{3}): ([^|\s]+)\| ?(.*)", re.S)
_RE_HOSTD4 = lazy_re(
    r"\[(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))? (\w+) (\w+) '([^']*)'[^\]]*\] ?(.*)", re.S
)
_RE_BRACKET_TS = lazy_re(r"\[(" + _TS.pattern + r")\]")
_RE_EPOCH = lazy_re(r"\((\d{9,11})\)")
_RE_PRI = lazy_re(r"<(\d{1,3})>")
_RE_FORWARDED = lazy_re(r"([\w.\-]+) ([\w.\-]+)(?:\[(\w+)\])?: ?(.*)", re.S)
# Headers a KB or a paste left without their time: an ESXi daemon's tag ("vmkernel: 188:04:24:16.970 cpu8:4288)",
# KB 1027963 with the syslog date dropped), a vobd correlator ("[scsiCorrelator] 1728...us: [vob...", KB 432676),
# and a vmkernel line whose start was cut off (") - possible deadlock10Z cpu2:1075473)@BlueScreen: ...")
_RE_DAEMON_NOTS = lazy_re(r"(vmkernel|vmkwarning|vmkalert|vmkhalt|vobd|hostd): (.*)", re.S)
_RE_VMX_NOTS = lazy_re(r"([a-z][\w.\-]*)\| ([A-Z]\d+): ?(.*)", re.S)
_RE_CORRELATOR = lazy_re(r"\[\w*Correlator\] \d+us: ")
_RE_VMK_CUT = lazy_re(r"(?:^|\s)cpu(\d+|<\w+>):(\w+)(?: opID=\S+)?\)")
_RE_PSOD = lazy_re(r"(@BlueScreen: |VMK uptime: |VMware ESX(?:i)? Server \[|Code start: |PCPU \d+: )")


@dataclass(slots=True)
class _Hdr:
    """What a header parser found; turned into a LogLine by parse_line."""

    layout: str
    body: str
    time: datetime | None = None
    time_text: str = ""
    masked: bool = False
    severity: str | None = None
    program: str | None = None
    pid: str | None = None
    continuation: bool = False
    host: str = ""
    ok: bool = True
    problem: str | None = None
    guessed_year: bool = False  # classic syslog stamp: the year came from the caller or the clock
    salvaged: bool = False  # header damaged (ok False) but the body was found: keep it for the catalog


def _vmk_severity(body: str) -> str | None:
    if body.startswith("WARNING"):
        return "WARNING"
    if body.startswith("ALERT"):
        return "ALERT"
    return None


def _strip_vmk(h: _Hdr) -> None:
    """Drop the vmkernel "cpuN:WORLD)" prefix from the body (world id goes to pid)."""
    m = _RE_VMK_PREFIX.match(h.body)
    if m:
        h.pid = m.group(2)
        h.body = h.body[m.end() :]


def _after_ts(rest: str, kind: LogKind, layout5: str) -> _Hdr:
    """Parse what follows an ESXi 5.x+ timestamp."""
    if not rest:
        return _Hdr(layout5, "")
    c = rest[0]
    if c == "|":  # vmware.log <= 7.0: "| vcpu-0| I125: msg"
        m = _RE_VMX7.match(rest)
        if m:
            return _Hdr(layout5, m.group(3), severity=m.group(2), program=m.group(1).strip())
        return _Hdr(layout5, rest[1:].lstrip())
    if c == ":":  # vobd 5.x-7.0: ": [Correlator] <us>us: [id] text"
        return _Hdr(layout5, rest[1:].lstrip(), program="vobd")
    if c != " ":
        return _Hdr(layout5, rest, ok=False, problem="unexpected text after timestamp")
    rest = rest[1:]
    if rest[:2] in ("Em", "Al", "Cr", "Er", "Wa", "No", "In", "Db") and rest[2:3] == "(":
        return _esxi8(rest, kind)
    if rest.startswith("cpu"):
        m = _RE_VMK_PREFIX.match(rest)
        if m:
            body = rest[m.end() :]
            return _Hdr(layout5, body, severity=_vmk_severity(body), program="vmkernel", pid=m.group(2))
    m = _RE_HOSTD6.match(rest)
    if m:
        return _Hdr(layout5, m.group(4), severity=m.group(1), program=m.group(2), pid=m.group(3))
    if rest.startswith("["):
        m = _RE_HOSTD5.match(rest)
        if m:  # ESXi 5.x hostd/vpxa: "[2B8C0B70 info 'Hostsvc.VmkVprobSource' opID=x] msg"
            return _Hdr(layout5, m.group(4), severity=m.group(2), program=m.group(3), pid=m.group(1))
    m = _RE_TAGGED.match(rest)
    if m:
        return _Hdr(layout5, m.group(3), program=m.group(1), pid=m.group(2))
    m = _RE_PROG.match(rest)
    if m:
        return _Hdr(layout5, m.group(2), program=m.group(1))
    if kind is LogKind.VMWARE:
        m = _RE_VMX8_NOSEV.match(rest)
        if m:  # KB 427504 prints 8.0 vmware.log lines without the "In(05)" tag
            return _Hdr("esxi8", m.group(3), program=m.group(1))
    return _Hdr(layout5, rest.lstrip())


def _esxi8(rest: str, kind: LogKind) -> _Hdr:
    """ESXi 8.0 vmsyslogd "In(182) vmkernel: ..." or VMX "In(05) vcpu-0 - msg" forms."""
    token = rest.split(" ", 2)[1] if rest.count(" ") else ""
    syslog_form = token.endswith(":") or (token.endswith("]:") and "[" in token)
    m8 = _RE_ESXI8_SYSLOG.match(rest) if syslog_form else None
    if m8:
        h = _Hdr(
            "esxi8", m8.group(6), severity=m8.group(1), program=m8.group(4), pid=m8.group(5),
            continuation=bool(m8.group(3)),
        )  # fmt: skip
        prog = h.program or ""
        if prog.startswith("vmk"):
            _strip_vmk(h)
        elif prog == "vobd":
            h.body = h.body.lstrip(" ")
        return h
    mv = _RE_ESXI8_VMX.match(rest)
    if mv:
        return _Hdr(
            "esxi8", mv.group(6) or "", severity=mv.group(1), program=mv.group(4), pid=None,
            continuation=bool(mv.group(3)),
        )  # fmt: skip
    return _Hdr("esxi8", rest, ok=False, problem="bad ESXi 8 severity header")


def _iso(text: str, kind: LogKind) -> _Hdr:
    """Lines starting with an ISO (or masked ISO) timestamp."""
    m = _TS.match(text)
    if m is None:
        d = _DATE_ONLY.match(text)
        if d:  # lnav sample "2022-06-02 In(14) prog[pid]: 05:34:23.666 msg": date only
            h = _after_ts(text[d.end() :], kind, "esxi8")
            h.layout = "date-only"
            h.time_text = d.group(0)
            return h
        return _Hdr("unknown", text, ok=False, problem="unparseable timestamp")
    t, masked = _iso_time(m)
    h = _after_ts(text[m.end() :], kind, "esxi5-7")
    h.time, h.masked, h.time_text = t, masked, m.group(0)
    if t is None and not masked and h.ok:
        h.ok, h.problem = False, "impossible timestamp"
    return h


def _bracketed(text: str, kind: LogKind) -> _Hdr:
    """KB style "[YYYY-MM-DDTHH:MM:SS] ..." or hostd 4.x/5.x "[2012-04-07 17:39:16.938 tid level 'comp']"."""
    m = _RE_BRACKET_TS.match(text)
    if m:
        inner = _TS.match(m.group(1))
        assert inner is not None  # the bracket pattern embeds _TS
        t, masked = _iso_time(inner)
        h = _after_ts(text[m.end() :], kind, "esxi5-7")
        h.layout = "bracketed-" + h.layout
        h.time, h.masked, h.time_text = t, masked, m.group(0)
        if t is None and not masked and h.ok:
            h.ok, h.problem = False, "impossible timestamp"
        return h
    m4 = _RE_HOSTD4.match(text)
    if m4:
        return _hostd4(m4, "hostd4")
    if _RE_CORRELATOR.match(text):  # a vobd line without its time: a KB's excerpt, or a line cut at the front.
        # Still odd (it cannot be placed in time) but read as vobd; the body keeps the correlator, as after a time
        return _Hdr("no-timestamp", text, program="vobd", ok=False, problem="vobd line without its time stamp")
    return _Hdr("unknown", text, ok=False, problem="unrecognised bracketed header")


def _hostd4(m: re.Match[str], layout: str) -> _Hdr:
    t = _mk_time([int(m.group(i)) for i in range(1, 7)], m.group(7))
    time_text = m.group(0)[1 : m.group(0).index(" ", 12)]
    h = _Hdr(layout, m.group(11), time=t, time_text=time_text, severity=m.group(9), program=m.group(10))
    h.pid = m.group(8)
    if t is None:
        h.ok, h.problem = False, "impossible timestamp"
    return h


def _clock_year(month: int, day: int) -> int:
    """The year of a year-less stamp with nothing else to go on: this year, unless that puts it in the future."""
    now = datetime.now(UTC)
    return now.year - 1 if (month, day) > (now.month, now.day + 1) else now.year


def _vmx_old(m: re.Match[str], year: int | None) -> _Hdr:
    """ESX 3.x/4.x vmware.log header; the year comes from the caller or the clock, as for classic syslog."""
    y = year if year is not None else _clock_year(_MONTHS[m.group(1)], int(m.group(2)))
    parts = [y, _MONTHS[m.group(1)], *(int(m.group(i)) for i in range(2, 6))]
    t = _mk_time(parts, m.group(6))
    text = m.string
    h = _Hdr("esx-vmx", m.group(8), time=t, time_text=text[: m.start(7)].rstrip(": "), program=m.group(7),
             guessed_year=t is not None)  # fmt: skip
    if t is None:
        h.ok, h.problem = False, "impossible timestamp"
    return h


def _syslog(text: str, kind: LogKind, year: int | None) -> _Hdr:
    """ESX 3.x/4.x classic syslog "Mon DD HH:MM:SS [host] prog[pid]: msg" and its inner shapes."""
    if kind is LogKind.VMWARE:
        mv = _RE_VMX_OLD.match(text)
        if mv and mv.group(1) in _MONTHS:
            return _vmx_old(mv, year)
    m = _RE_SYSLOG.match(text)
    if m is None or m.group(1) not in _MONTHS:
        return _Hdr("unknown", text, ok=False, problem="unrecognised header")
    y = year if year is not None else _clock_year(_MONTHS[m.group(1)], int(m.group(2)))
    mon = _MONTHS[m.group(1)]
    t = _mk_time([y, mon, *(int(m.group(i)) for i in range(2, 6))], None)
    h = _Hdr(
        "esx-syslog", m.group(9), time=t, time_text=text[: m.start(6) if m.group(6) else m.start(7)].strip(),
        program=m.group(7), pid=m.group(8), host=m.group(6) or "",
    )  # fmt: skip
    prog = m.group(7).lower()
    body = h.body
    epoch: datetime | None = None
    if prog.startswith("vmk") and prog != "vmkhalt":
        mu = _RE_UPTIME.match(body)
        if mu:  # "D:HH:MM:SS.mmm cpuN:WORLD)msg"
            h.body, h.pid = mu.group(4), mu.group(3)
        h.severity = _vmk_severity(h.body)
    elif prog == "vobd":
        mv = _RE_VOBD4.match(body)
        if mv and mv.group(1) in _MONTHS:  # inner timestamp has milliseconds
            inner = _mk_time([y, _MONTHS[mv.group(1)], *(int(mv.group(i)) for i in range(2, 6))], mv.group(6))
            h.time = inner or h.time
            h.body = mv.group(7)
    elif prog == "hostd":
        m4 = _RE_HOSTD4.match(body)
        if m4:  # the inner hostd header has the year: prefer it
            inner_h = _hostd4(m4, "esx-syslog")
            inner_h.host = h.host
            return inner_h
    elif prog in ("logger", "vmkhalt"):
        me = _RE_EPOCH.match(body)
        epoch = _epoch_time(me.group(1)) if me else None
        if epoch is not None:  # the epoch is exact and has a year; the syslog stamp is local time without one
            h.time = epoch
    h.guessed_year = h.time is not None and not (prog in ("logger", "vmkhalt") and epoch is not None)
    if t is None and h.time is None:
        h.ok, h.problem = False, "impossible timestamp"
    return h


def _uptime(text: str) -> _Hdr:
    m = _RE_UPTIME.match(text)
    if m is None:
        if _TRUNCATED_TS.match(text):
            return _Hdr("unknown", text, ok=False, problem="truncated timestamp")
        return _Hdr("unknown", text, ok=False, problem="unrecognised header")
    body = m.group(4)
    return _Hdr("uptime", body, time_text=m.group(1), severity=_vmk_severity(body), program="vmkernel",
                pid=m.group(3))  # fmt: skip


def _forwarded(text: str, kind: LogKind, year: int | None) -> _Hdr:
    """Syslog-forwarded copies: "<PRI>" then an ISO or classic header."""
    m = _RE_PRI.match(text)
    assert m is not None
    rest = text[m.end() :]
    ts = _TS.match(rest)
    if ts and rest[ts.end() : ts.end() + 1] == " ":
        mf = _RE_FORWARDED.match(rest, ts.end() + 1)
        if mf and not mf.group(1).startswith(("In(", "Wa(")):
            t, masked = _iso_time(ts)
            h = _Hdr("syslog-forwarded", mf.group(4), time=t, time_text=ts.group(0), masked=masked,
                     program=mf.group(2), pid=mf.group(3), host=mf.group(1))  # fmt: skip
            m6 = _RE_HOSTD6.match(h.body)
            if m6:  # RFC 3164 copy of a hostd 6.x/7.0 line: keep the inner header's fields
                h.severity, h.program, h.pid, h.body = m6.group(1), m6.group(2), m6.group(3), m6.group(4)
            elif (h.program or "").lower().startswith("vmk"):
                _strip_vmk(h)
            return h
    h = _dispatch(rest, kind, year)
    if h.ok:
        h.layout = "syslog-forwarded"
    return h


# after a placeholder time: "[<hostname>|host] prog[pid]: body" (KB 1008130: "<date and time> <hostname> vmkernel:
# 31:19:32:29.382 cpu2:1144)FS3: ..."); "cpu2:1144)" is an ESXi 5.x+ vmkernel prefix, not a program
_RE_PLACEHELD_SYSLOG = lazy_re(
    r" (?:<[^<>]*> |[\w.\-]+ (?=[A-Za-z][\w.\-]*(?:\[\w+\])?: ))?(?!cpu\d)([A-Za-z][\w.\-]*)(?:\[(\w+)\])?: (.*)", re.S
)


def _placeheld(rest: str, kind: LogKind) -> _Hdr:
    m = _RE_PLACEHELD_SYSLOG.match(rest)
    if m is None:
        h = _after_ts(rest, kind, "esxi5-7")
        h.layout = "placeholder-" + h.layout
        return h
    h = _Hdr("placeholder-syslog", m.group(3), program=m.group(1), pid=m.group(2))
    if m.group(1).lower().startswith("vmk"):
        mu = _RE_UPTIME.match(h.body)
        if mu:  # "D:HH:MM:SS.mmm cpuN:WORLD)msg"
            h.body, h.pid = mu.group(4), mu.group(3)
        h.severity = _vmk_severity(h.body)
    return h


def _dispatch(text: str, kind: LogKind, year: int | None) -> _Hdr:
    c = text[:1]
    if c.isdigit():
        if text[4:5] == "-" and text[:4].isdigit():
            return _iso(text, kind)
        return _uptime(text)
    if c in ("Y", "y") or (c == "2" and text[4:5] == "-"):
        return _iso(text, kind)
    if c == "[":
        return _bracketed(text, kind)
    if c == "<" and _RE_PRI.match(text):
        return _forwarded(text, kind, year)
    if c == "<":
        mp = _RE_PLACEHOLDER_TS.match(text)
        if mp:  # a KB's placeholder for the time: masked; the rest is a classic syslog or an ESXi 5.x+ line
            h = _placeheld(text[mp.end() :], kind)
            h.masked, h.time_text = True, mp.group(0)
            return h
    if c.isupper() and text[3:4] == " " and text[:3] in _MONTHS:
        return _syslog(text, kind, year)
    if c in "@VCP" and _RE_PSOD.match(text):
        return _Hdr("psod", text, program="BlueScreen" if c == "@" else None)
    if c == "-" and text.startswith("-->"):
        return _Hdr("continuation", text[3:].lstrip(" "), continuation=True)
    if c == "c" and (mk := _RE_VMK_PREFIX.match(text)):  # "cpu6:32909)WARNING: ..." a KB left the time out
        body = text[mk.end() :]
        return _Hdr("no-timestamp", body, severity=_vmk_severity(body), program="vmkernel", pid=mk.group(2))
    if c.isalpha():
        m = _RE_TAGGED_NOTS.match(text)
        if m:  # "vobd[2098532]  ..." with the timestamp left out by a KB
            body = m.group(3).lstrip(" ")
            return _Hdr("no-timestamp", body, program=m.group(1), pid=m.group(2))
        if text[:2] in _SEV_CODES and text[2:3] == "(":  # "In(182) vmkernel: cpu93:2098107)..." without its time
            h = _esxi8(text, kind)
            h.layout = "no-timestamp" if h.ok else h.layout
            return h
        md = _RE_DAEMON_NOTS.match(text)
        if md:
            return _daemon_no_time(md)
        mx = _RE_VMX_NOTS.match(text)
        if mx:  # vmware.log <= 7.0 "vcpu-0| E105: PANIC: ..." as a KB prints it, without the time
            return _Hdr("no-timestamp", mx.group(3), severity=mx.group(2), program=mx.group(1))
    if not text:
        return _Hdr("unknown", "", ok=False, problem="empty line")
    mc = _RE_VMK_CUT.search(text)
    if mc:  # the line lost its start (a paste, a cut): what follows the vmkernel world prefix is still the message
        body = text[mc.end() :]
        why = "no header at the line's start (cut, or markup before it): read from its vmkernel prefix"
        return _Hdr("cut", body, severity=_vmk_severity(body), program="vmkernel", pid=mc.group(2), ok=False,
                    problem=why, salvaged=True)  # fmt: skip
    return _Hdr("unknown", text, ok=False, problem="unrecognised header")


_SEV_CODES = ("Em", "Al", "Cr", "Er", "Wa", "No", "In", "Db")


def _daemon_no_time(m: re.Match[str]) -> _Hdr:
    """A daemon's syslog tag with the date and host left out: "vmkernel: 188:04:24:16.970 cpu8:4288)msg"."""
    h = _Hdr("no-timestamp", m.group(2), program=m.group(1))
    if m.group(1).startswith("vmk"):
        mu = _RE_UPTIME.match(h.body)
        if mu:  # ESX 3/4 "D:HH:MM:SS.mmm cpuN:WORLD)msg"
            h.body, h.pid, h.time_text = mu.group(4), mu.group(3), mu.group(1)
        else:
            _strip_vmk(h)
        h.severity = _vmk_severity(h.body)
    elif m.group(1) == "vobd" and (mv := _RE_VOBD4.match(h.body)) and mv.group(1) in _MONTHS:
        h.body, h.time_text = mv.group(7), h.body[: mv.start(7)].rstrip(": ")  # ESX 4 "Aug 15 06:07:13.285: ..."
    return h


_YEARLESS = ("esx-syslog", "esx-vmx")  # layouts whose stamps have no year


def _roll_year(t: datetime, prev: datetime) -> datetime:
    """A year-less stamp far before the previous line's is the new year (Dec 31 -> Jan 1)."""
    if prev - t < timedelta(days=180):
        return t
    try:
        return t.replace(year=prev.year + (1 if t.month < prev.month else 0))
    except ValueError:  # Feb 29 in a non-leap year
        return t


def parse_line(
    raw: str,
    kind: LogKind,
    *,
    file: str = "",
    line_no: int = 0,
    host: str = "",
    prev: LogLine | None = None,
    year: int | None = None,
) -> LogLine:
    """Split one physical log line into header fields and body. Never raises.

    `prev` (the previous line of the same stream) gives continuation lines their time; `year` is used for
    classic syslog stamps without a year (default: the current UTC year).
    """
    text = raw.rstrip("\r\n")
    stripped = text.lstrip(" \t")
    try:
        h = _dispatch(stripped, kind, year)
    except Exception as exc:  # a parser bug must not lose the line; report it instead
        h = _Hdr("unknown", stripped, ok=False, problem=f"parser error: {type(exc).__name__}")
    if not h.ok and not h.salvaged:  # a line we cannot vouch for keeps its whole text as the body
        h.body = stripped
    if h.guessed_year and prev is not None and prev.time and h.time:
        # the year from context: the previous line of the stream (its own stamp's year, or the one it was
        # given), rolled over at New Year; else the caller's year or the clock's
        with contextlib.suppress(ValueError):  # Feb 29 in a non-leap year keeps the caller's year
            h.time = _roll_year(h.time.replace(year=prev.time.year), prev.time)
    if h.continuation and prev is not None and h.time is None and not h.masked:
        h.time, h.masked = prev.time, prev.masked
        if h.layout == "continuation":
            h.severity, h.program, h.pid = prev.severity, prev.program, prev.pid
    return LogLine(
        kind=kind, file=file, line_no=line_no, raw=text, body=h.body, time=h.time, time_text=h.time_text,
        masked=h.masked, layout=h.layout, severity=h.severity, program=h.program, pid=h.pid,
        continuation=h.continuation, host=host or h.host, ok=h.ok, problem=h.problem,
        year_inferred=h.guessed_year and h.time is not None,
    )  # fmt: skip
