"""ESX 3.x/4.x classic log lines and command answers, each beside the real line it imitates. Pure functions.

Real material: Broadcom KB 308590 ("Understanding a 'Lost Heartbeat' purple diagnostic screen", in
../shared/seeds/), KB 340494 and KB 1019238 (vmksummary, quoted in reference/log-samples/vmksummary.txt) and the
ESX 4.x syslog vmkernel line in reference/log-samples/vmkernel.log.txt (elatov blog, 2012).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# The Service Console's sysklogd writes RFC 3164 stamps: "%b %e %H:%M:%S" (day padded with a space). The samples'
# "Mar 9 10:01:49" (KB 1019238 via elatov) lost that padding in HTML; "Nov 13 03:01:35" (KB 308590) shows none.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def syslog_stamp(epoch: float, utc_offset_s: int = 0) -> str:
    """ "Nov 13 03:01:35" in the COS's local time (the lab's hosts run in UTC; the KB's host was 5 h behind it:
    its "(1258102905)" is 09:01:45 UTC, stamped "Nov 13 04:01:45")."""
    t = time.gmtime(epoch + utc_offset_s)
    return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


def syslog(epoch: float, host: str, prog: str, msg: str, utc_offset_s: int = 0) -> str:
    """`Nov 13 03:01:35 esxhostname logger: (1258099291) hb: ...` (KB 308590) - one syslog-wrapped line."""
    return f"{syslog_stamp(epoch, utc_offset_s)} {host} {prog}: {msg}"


def vmk_uptime(uptime_s: float) -> str:
    """The VMkernel's uptime prefix D:HH:MM:SS.mmm: "42:14:02:29.347" (KB 308590), "2:16:49:12.573" (elatov)."""
    ms = round(uptime_s * 1000)
    days, ms = divmod(ms, 86_400_000)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    seconds, ms = divmod(ms, 1000)
    return f"{days}:{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}"


def vmkernel(epoch: float, host: str, uptime_s: float, cpu: int, world: int, msg: str) -> str:
    """`Mar 1 08:53:36 host.com vmkernel: 2:16:49:12.573 cpu3:4099)ScsiDeviceIO: 1672: ...` (ESX 4.x, elatov
    2012, reference/log-samples/vmkernel.log.txt) - the VMkernel's own line inside the COS syslog."""
    return syslog(epoch, host, "vmkernel", f"{vmk_uptime(uptime_s)} cpu{cpu}:{world}){msg}")


# -- vmksummary (hourly, written by a cron job of the COS through `logger`) -------------------------------------


@dataclass(frozen=True, slots=True)
class HbSample:
    """One hourly vmksummary heartbeat: what `hb: vmk loaded, ...` says (KB 308590's explanation of the fields)."""

    epoch: int
    uptime_s: float  # "11798915.64 is the uptime of the host in seconds"
    vmk_uptime_s: float  # the second figure (11798902.253): the VMkernel's uptime, a few seconds less (COS boots first)
    vms: int  # "73 is the number of virtual machines running"
    unknown_a: int  # 153875 / 110268 / 208167: not explained by the KBs; repeated twice in every real sample
    swap_bytes: int  # "567468032 is the bytes of swap consumed"
    top: tuple[tuple[str, int], ...]  # "VMap-586196": name (cut to 8 characters) - virtual memory in KB


def top_name(comm: str) -> str:
    """The process name as vmksummary prints it: cut to 8 characters ("vmware-hostd" -> "vmware-h", "webAccess"
    -> "webAcces", KB 308590; "VMap" stays "VMap")."""
    return comm[:8]


def vmksummary_hb(host: str, s: HbSample, utc_offset_s: int = 0) -> str:
    """KB 308590: `Nov 13 04:01:45 esxhostname logger: (1258102905) hb: vmk loaded, 11798915.64, 11798902.253, 73,
    153875, 153875, 567468032, VMap-586196, vmware-h-83180, webAcces-27292`."""
    tops = ", ".join(f"{top_name(n)}-{kb}" for n, kb in s.top)
    body = (
        f"({s.epoch}) hb: vmk loaded, {s.uptime_s:.2f}, {s.vmk_uptime_s:.3f}, {s.vms}, "
        f"{s.unknown_a}, {s.unknown_a}, {s.swap_bytes}, {tops}"
    )
    return syslog(s.epoch, host, "logger", body, utc_offset_s)


def vmkhalt(epoch: int, host: str, what: str) -> str:
    """KB 1019238: `Mar 9 10:26:13 localhost vmkhalt: (1268148374) Starting system...` (also Rebooting, Halting);
    KB 308590 prints "Starting system…" with a typographic ellipsis, an artefact of the KB's editor."""
    return syslog(epoch, host, "vmkhalt", f"({epoch}) {what} system...")


def loaded_vmkernel(epoch: int, host: str) -> str:
    """KB 1019238: `Mar 9 10:26:47 localhost logger: (1268148407) loaded VMkernel` (after "Starting system...")."""
    return syslog(epoch, host, "logger", f"({epoch}) loaded VMkernel")


# -- the Lost Heartbeat purple screen (KB 308590, verbatim lines with our numbers) -------------------------------

COS_WORLD = 1024  # "cpu0:1024)" and "*0:1024/console" in the KB: the COS world on PCPU 0


def lost_heartbeat(comm: str, pid: int, t: int, to: int = 30) -> str:
    """`VMNIX: ALERT: HB: 365: Lost heartbeat (comm=vmnixhbd pid=20 t=29 to=30 clt=1).` (KB 308590)."""
    return f"VMNIX: ALERT: HB: 365: Lost heartbeat (comm={comm} pid={pid} t={t} to={to} clt=1)."


COS_ERROR = "Host: 4781: COS Error: Lost heartbeat"  # KB 308590, verbatim
BLUESCREEN = "@BlueScreen: Lost heartbeat"  # KB 308590, verbatim (the purple screen's title line)
COREDUMP_START = "Starting coredump to disk"  # KB 308590 prints it doubled, interleaved with "Dumping using slot"
DUMP_SLOT = "Dumping using slot 1 of 1..."  # KB 308590


def dump_cos_core(volume_uuid: str, host: str) -> str:
    """`Dump: 354: Dumping core to '/volumes/4533e089-1dfcdd21-f1d3-001a140ebdca/cos-core-esxhostname'` (KB 308590)."""
    return f"Dump: 354: Dumping core to '/volumes/{volume_uuid}/cos-core-{host}'"


def zdump_name(boot_epoch: float) -> str:
    """`vmkernel-zdump-111309.07.13.1`: named after the date and time of the next startup (KB 308590: the host came
    back on Nov 13 2009 at 07:13, "111309.07.13"), the last number a counter."""
    t = time.gmtime(boot_epoch)
    return f"vmkernel-zdump-{t.tm_mon:02d}{t.tm_mday:02d}{t.tm_year % 100:02d}.{t.tm_hour:02d}.{t.tm_min:02d}.1"


def cos_core_name(host: str, pid: int) -> str:
    """`cos-core-esxhostname.123.core.gz` (KB 308590)."""
    return f"cos-core-{host}.{pid}.core.gz"


def meminfo(mem_total_kb: int, mem_free_kb: int, swap_total_kb: int, swap_free_kb: int) -> str:
    """The COS's /proc/meminfo (2.6.18 kernel layout, 'Key:  value kB'). The KB quotes four keys, MemTotal:799732 kB,
    HighTotal:0 kB, LowTotal:799732 kB, SwapTotal:554168 kB; the rest follow Linux 2.6's field order, values from the
    model (no real ESX 4 COS meminfo beyond the KB's four lines was found)."""
    used = mem_total_kb - mem_free_kb
    rows = [
        ("MemTotal", mem_total_kb),
        ("MemFree", mem_free_kb),
        ("Buffers", min(used, 20480) // 4),
        ("Cached", min(used, 20480)),
        ("SwapCached", 0),
        ("HighTotal", 0),
        ("HighFree", 0),
        ("LowTotal", mem_total_kb),
        ("LowFree", mem_free_kb),
        ("SwapTotal", swap_total_kb),
        ("SwapFree", swap_free_kb),
    ]
    return "".join(f"{k + ':':<16}{v:>8} kB\n" for k, v in rows)


# -- command answers ---------------------------------------------------------------------------------------------

# `vmware -v` on ESX 4.1 GA: "VMware ESX 4.1.0 build-260247"; 4.0 GA build-164009; 3.5 "VMware ESX Server 3.5.0
# build-64607". From memory of the release notes' build numbers: the search tool found no verbatim console copy.
# The KB's own screen shows the 3.x banner form "VMware ESX Server [Releasebuild-123630]".
VERSIONS = {"4.1": ("VMware ESX 4.1.0", 260247), "4.0": ("VMware ESX 4.0.0", 164009)}


def vmware_v(version: str) -> str:
    product, build = VERSIONS[version]
    return f"{product} build-{build}\n"


def esxcfg_nas_list(mounts: list[tuple[str, str, str, bool]]) -> str:
    """`esxcfg-nas -l`: "<name> is <share> from <server> mounted" / "unmounted" per NFS datastore. No verbatim
    console sample was found by the search tool; the form is that of the ESX 4 configuration guide's examples."""
    return "".join(
        f"{n} is {share} from {server} {'mounted' if ok else 'unmounted'}\n" for n, share, server, ok in mounts
    )


# -- hostd.log (/var/log/vmware/hostd.log, written by hostd itself, not through syslog) ------------------------------


def hostd(epoch: float, thread: str, level: str, component: str, msg: str) -> str:
    """`[2009-10-15 01:04:15.484 17FA5B90 verbose 'vm:/vmfs/volumes/4acaa2a2-a85a3928-97b1-003048c93e5f/Centos 386
    Build01/Centos 386 Build01.vmx'] Updating current heartbeatStatus: green` (ESX 4.0, GitHub code-index id
    1046395526) and `[2012-10-03 22:19:06.743 62040B90 error 'App' opID=...] ...` (ESX 4.x hostd.log, elatov blog,
    id 10868938399): local time with milliseconds, the thread as 8 upper-case hex digits, level, 'component'."""
    t = time.gmtime(epoch)
    ms = int(epoch * 1000) % 1000
    stamp = f"{t.tm_year}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms:03d}"
    return f"[{stamp} {thread} {level} '{component}'] {msg}"


def vm_state_transition(old: str, new: str) -> str:
    """`State Transition (VM_STATE_OFF -> VM_STATE_POWERING_ON)` (ESX 3.5 hostd.log, 2008, OSSEC's ESX log samples,
    GitHub code-index id 8493375402; the same text in ESXi 5-8 hostd, reference/sim-realism-audit.md C8)."""
    return f"State Transition ({old} -> {new})"
