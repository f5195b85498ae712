"""vmksummary signatures: host boot/stop lines and the hourly memory samples (ESXi and ESX 3.x forms)."""

from __future__ import annotations

import re

from faultlab.assertions.catalog.base import Fields, Sample, Signature, is_int, sig
from faultlab.assertions.lazyre import lazy_re

_VMKS = "reference/log-samples/vmksummary.txt:"
_RE_UP = lazy_re(r"^up (\d+)d(\d+)h(\d+)m(\d+)s, (\d+) VMs?;")
_RE_PROC = lazy_re(r"\[(\d+) (\S+) (\d+)kB\]")
_RE_CPU = lazy_re(r"\[(\d+) (\S+) (\d+)%max\]")


def _memory_esxi(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    d, h, mi, s, vms = (int(x) for x in m.groups())
    body = m.string
    fields: Fields = {
        "format": "esxi",
        "uptime_s": float(((d * 24 + h) * 60 + mi) * 60 + s),
        "vms": vms,
        "swap_bytes": None,
        "processes": [{"name": n, "id": int(w), "mem_kb": int(k)} for w, n, k in _RE_PROC.findall(body)],
        "cpu": [{"name": n, "id": int(w), "cpu_pct": int(c)} for w, n, c in _RE_CPU.findall(body)],
        "epoch": None,
    }
    return None, fields, None


def _int_or_none(items: list[str], i: int) -> int | None:
    return int(items[i]) if len(items) > i and is_int(items[i]) else None


def _memory_esx3(m: re.Match[str]) -> tuple[str | None, Fields, str | None] | None:
    # "<uptime>, <x>, <nvms>, <x>, <x>, <swap-bytes>, name-kB, ..." (KB 308590); the KB's copy is truncated
    items = [x.strip() for x in m.group("rest").split(",")]
    try:
        uptime = float(items[0])
    except ValueError:
        return None
    procs = []
    for item in items[6:]:
        name, _, kb = item.rpartition("-")
        if name and is_int(kb):
            procs.append({"name": name, "id": None, "mem_kb": int(kb)})
    fields: Fields = {
        "format": "esx3",
        "uptime_s": uptime,
        "vms": _int_or_none(items, 2),
        "swap_bytes": _int_or_none(items, 5),
        "processes": procs,
        "cpu": [],
        "epoch": int(m.group("epoch")),
    }
    return None, fields, None


def _bootstop(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    how = m.group("how")
    if how == "has booted":
        return None, {"_name": "host.boot"}, None
    return None, {"_name": "host.shutdown", "how": how.removeprefix("is ")}, None


def _vmkhalt(m: re.Match[str]) -> tuple[str | None, Fields, str | None]:
    what, epoch = m.group("what"), int(m.group("epoch"))
    if what == "Starting":
        return None, {"_name": "host.boot", "epoch": epoch}, None
    return None, {"_name": "host.shutdown", "how": what.lower(), "epoch": epoch}, None


SIGNATURES: tuple[Signature, ...] = (
    sig("bootstop", r"^Host (?P<how>has booted|is rebooting|is powering off|is halting)",
        r"Host (has booted|is rebooting|is powering off|is halting)",
        Sample("2025-09-18T02:15:00.360Z bootstop[137121]: Host is halting", _VMKS + "13"),
        Sample("2025-09-18T02:45:00.360Z Host has booted", _VMKS + "14"),
        handler=_bootstop),
    sig("vmkhalt", r"^\((?P<epoch>\d+)\) (?P<what>Rebooting|Starting|Halting) system",
        r"(Rebooting|Starting|Halting) system",
        Sample("Mar 9 10:24:42 localhost vmkhalt: (1268148282) Rebooting system...", _VMKS + "29"),
        Sample("Mar 9 10:26:13 localhost vmkhalt: (1268148374) Starting system...", _VMKS + "30"),
        handler=_vmkhalt),
    sig("host.boot", r"^\((?P<epoch>\d+)\) loaded VMkernel", r"loaded VMkernel",
        Sample("Mar 9 10:26:47 localhost logger: (1268148407) loaded VMkernel", _VMKS + "31")),
    sig("host.memory.sample", _RE_UP.pattern, r"up [0-9]+d[0-9]+h[0-9]+m",
        Sample("2025-09-18T01:00:00.360Z heartbeat[14118500]: up 22d1h40m22s, 10 VMs; [[2109036 vmx 16752988kB] "
               "[2115283 vmx 16775168kB] [2112238 vmx 44607488kB]] []", _VMKS + "11"),
        handler=_memory_esxi),
    sig("host.memory.sample", r"^\((?P<epoch>\d+)\) hb: vmk loaded, (?P<rest>.*)", r"hb: vmk loaded",
        Sample("Feb 25 15:01:01 myhost logger: (1235592061) hb: vmk loaded, 5166530.82, 5166517.348, 20, 110268, "
               "110268, 265330688, vmware-h-61456, vpxa-16504, webAcces-14548", _VMKS + "22"),
        handler=_memory_esx3),
)  # fmt: skip
