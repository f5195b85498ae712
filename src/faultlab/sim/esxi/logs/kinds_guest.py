"""hostd.log, vmware.log and vmksummary.log line kinds."""

from __future__ import annotations

from faultlab.sim.esxi.logs.linekind import HEADER_SAMPLES, LineKind, declare

# ------------------------------------------------------------------------------------------------ hostd
_ORIG = r"\[Originator@6876 sub=[^\]\s]+(?: opID=\S+)?(?: user=\S+)?\] "
HOSTD_SECTION = declare(
    name="hostd.section",
    log="hostd",
    text="Section for VMware ESX, pid={pid}, version={version}, build={build}, option=Release",
    template=r"Section for VMware ESX, pid=\d+, version=[\d.]+, build=\d+, option=Release",
    real="2017-01-22T16:44:58.386Z Section for VMware ESX, pid=34652, version=6.0.0, build=3620759, option=Release",
    source="log-samples/hostd.log.txt: vmware/vic#4384 (ESXi 6.0 hostd.log header, a bare line)",
    sample={"pid": 2099712, "version": "8.0.2", "build": 22380479},
)
HOSTD_EVENT = declare(
    name="hostd.event",
    log="hostd",
    text="[Originator@6876 sub=Vimsvc.ha-eventmgr] Event {key} : {message}",
    template=_ORIG + r"Event \d+ : \S.*",
    real="2018-07-06T21:02:11.204Z info hostd[B781B70] [Originator@6876 sub=Vimsvc.ha-eventmgr] Event 3026 : Device or "
    "filesystem with identifier naa.60014055c425cd10a874374b415629b3 has entered the All Paths Down state.",
    source="log-samples/hostd.log.txt: HAUC notes (ESXi 6.5/6.7)",
    sample={"key": 3026, "message": "win01 on esx01 in ha-datacenter is powered on"},
)
_HAUC_HOSTD = "log-samples/hostd.log.txt: HAUC notes (ESXi 6.5/6.7)"
HOSTD_TASK_CREATED = declare(
    name="hostd.task.created",
    log="hostd",
    text="[Originator@6876 sub=Vimsvc.TaskManager opID={op} user=root] Task Created : {task}",
    template=_ORIG + r"Task Created : haTask-[\w-]+-vim\.[\w.]+-\d+",
    real="2018-07-05T21:55:18.660Z info hostd[9BC1B70] [Originator@6876 sub=Vimsvc.TaskManager opID=ecb6776e "
    "user=root] Task Created : haTask-99-vim.VirtualMachine.powerOn-108005254",
    source=_HAUC_HOSTD,
    sample={"op": "ecb6776e", "task": "haTask-1-vim.VirtualMachine.powerOn-108005254"},
)
HOSTD_TASK_COMPLETED = declare(
    name="hostd.task.completed",
    log="hostd",
    text="[Originator@6876 sub=Vimsvc.TaskManager] Task Completed : {task} Status success",
    template=_ORIG + r"Task Completed : haTask-[\w-]+-vim\.[\w.]+-\d+ Status success",
    real="2018-07-05T20:55:45.409Z info hostd[A2C2B70] [Originator@6876 sub=Vimsvc.TaskManager] Task Completed : "
    "haTask-95-vim.VirtualMachine.powerOff-107998012 Status success",
    source=_HAUC_HOSTD + " (the notes show the power-off task's completion; a power-on completes the same way)",
    sample={"task": "haTask-1-vim.VirtualMachine.powerOn-108005254"},
)
HOSTD_STATE = declare(
    name="hostd.vm.state_transition",
    log="hostd",
    text="[Originator@6876 sub=Vmsvc.vm:{vmx}] State Transition ({old} -> {new})",
    template=_ORIG + r"State Transition \(VM_STATE_[A-Z_]+ -> VM_STATE_[A-Z_]+\)",
    real="2018-07-05T21:55:18.928Z info hostd[6C88890] [Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/5b2cf72d-c314ef74-"
    "0f37-8cdf9d51786c/v-queworx_a/v-queworx_a.vmx] State Transition (VM_STATE_POWERING_ON -> VM_STATE_ON)",
    source="log-samples/hostd.log.txt: HAUC notes (ESXi 6.5/6.7)",
    sample={
        "vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx",
        "old": "VM_STATE_OFF",
        "new": "VM_STATE_POWERING_ON",
    },
)
HOSTD_IOTRACKER = declare(
    name="hostd.iotracker",
    log="hostd",
    level="warning",
    text='[Originator@6876 sub=IoTracker] In thread {thread}, {op}("{path}") took over {seconds} sec.',
    template=_ORIG + r'In thread \d+, \w+\("[^"]+"\) took over \d+ sec\.',
    real="2020-06-21T19:25:15.633Z warning hostd[2099951] [Originator@6876 sub=IoTracker] In thread 2099995, "
    'stat("/vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2006/cnsu01ls2006.vmx") took over 410 sec.',
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0); KB 392634 shows the fopen form",
    sample={"thread": 2102953, "op": "fopen", "path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx", "seconds": 11},
)
HOSTD_DICTLOAD = declare(
    name="hostd.dictionaryload",
    log="hostd",
    text='[Originator@6876 sub=vm] DictionaryLoad: Cannot open file "{path}": {reason}.',
    template=_ORIG + r'DictionaryLoad: Cannot open file "[^"]+": [\w/ ]+\.',
    real=HEADER_SAMPLES[("hostd", "7.0")],
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0; sub=vm, no opID)",
    sample={"path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx", "reason": "Input/output error"},
)
HOSTD_VIGOR_RETRY = declare(
    name="hostd.vigor_retry",
    log="hostd",
    text="[Originator@6876 sub=vm] VigorOffline_GenSecPolicy: retry reading {path}",
    template=_ORIG + r"VigorOffline_GenSecPolicy: retry reading /vmfs/volumes/\S+",
    real="2020-06-26T06:22:54.504Z info hostd[2099996] [Originator@6876 sub=vm] VigorOffline_GenSecPolicy: retry "
    "reading /vmfs/volumes/5ee09751-87f3c36e-bb34-bc97e150f532/cnsu01ls2007/cnsu01ls2007.vmx",
    source="log-samples/hostd.log.txt: OneNote export (ESXi 7.0)",
    sample={"path": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)
HOSTD_GUEST_CRASH = declare(
    name="hostd.vm.guest_crash",
    log="hostd",
    text="[Originator@6876 sub=Vmsvc.vm:{vmx}] Guest operating system crash detected.",
    template=_ORIG + r"Guest operating system crash detected\.",
    real="[Originator@6876 sub=Vmsvc.vm:/vmfs/volumes/x/y/y.vmx] Guest operating system crash detected.",
    real_is_body=True,
    derive=(),
    note="KB 427504 quotes 'Hostd[#####]: Guest operating system crash detected.' without the Originator tag; "
    "the Vmsvc.vm sub is the State Transition lines' [I]",
    source="log-samples/hostd.log.txt: KB 427504 (ESXi 7.x/8.x)",
    sample={"vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)

# ------------------------------------------------------------------------------------------------ vmware.log
_WS = "public GitHub file (VMware VMX vmware.log case notes, 2026-01-02; search index id 61953925229)"
_WS_NOTE = "the notes quote the VMX lines with the level and thread columns removed: only that prefix is cut"
_GOS = "vmware/ansible-vsphere-gos-validation windows/guest_customization/win_gosc_verify.yml (audit A6)"


def _vmx(name: str, text: str, template: str, real: str, source: str, **more: object) -> LineKind:
    return declare(name=name, log="vmware", text=text, template=template, real=real, source=source, **more)


VMX_HEADER = _vmx(
    "vmware.header",
    "Log for VMware ESX pid={pid} version={version} build=build-{build} option=Release",
    r"Log for VMware ESX pid=\d+ version=[\d.]+ build=build-\d+ option=Release",
    "Log for VMware ESX pid=<pid> version=<version> build=<build> option=Release",
    "the audit's C9 row (layout); a public power-cycle script greps 'Log for VMware ESX' in vmware.log (search index "
    "id 8575127471). No verbatim header with values found",
    real_is_body=True,
    derive=(("<pid>", "2101894"), ("<version>", "7.0.3"), ("<build>", "build-21930508")),
    note="placeholders filled with a 7.0U3n build and a world-id-range pid",
    sample={"pid": 2101894, "version": "8.0.2", "build": 22380479},
)
# The VMX's log header after the first line: the same library writes it in every VMware hypervisor's vmware.log;
# the copies found are Workstation/Player ones (no ESXi copy with these lines was found: their presence on ESXi is
# [I], the audit's C9 row lists them for ESXi).
_PLAYER = "public GitHub file (a VMware Player 12.1.1 vmware.log, 2016; search index id 27036452133)"
VMX_PROCESS_64 = _vmx(
    "vmware.header.process_64",
    "The process is 64-bit.",
    r"The process is 64-bit\.",
    "2016-08-02T09:27:30.822-05:00| vmx| I125: The process is 64-bit.",
    _PLAYER,
    note="a Player copy of the VMX header line; on ESXi the same line is [I]",
    sample={},
)
VMX_CODEPAGE = _vmx(
    "vmware.header.codepage",
    "Host codepage=UTF-8 encoding=UTF-8",
    r"Host codepage=[\w-]+ encoding=[\w-]+",
    "2017-02-23T20:16:35.267+05:30| vthread-4| I125: Host codepage=UTF-8 encoding=UTF-8",
    "public GitHub file (a VMware Workstation 12.1.1 log on Linux, 2017; search index id 57176863221)",
    note="a Workstation copy of the VMX header line; ESXi is UTF-8 throughout, the line there is [I]",
    sample={},
)
VMX_HOSTNAME = _vmx(
    "vmware.header.hostname",
    "Hostname={host}",
    r"Hostname=[\w.-]+",
    "Hostname=tapas-laptop",
    "public GitHub file (a VMware Workstation 7.1.1 vmware.log, 2010: `Aug 20 20:09:03.972: vmx| "
    "Hostname=tapas-laptop`; search index id 56702289318); the audit's C9 row: scripts key on it",
    real_is_body=True,
    note="the 2010 layout's body; on ESXi the line is [I]",
    sample={"host": "esx01"},
)
VMX_DICT = _vmx(
    "vmware.dict_config",
    "DICT --- CONFIGURATION {vmx} ",
    r"DICT --- CONFIGURATION /\S.*\.vmx ",
    "DICT --- CONFIGURATION /home/arkelsa/vmware/Windows XP Professional/Windows XP Professional.vmx ",
    "public GitHub file (a VMware Workstation vmware.log, search index id 56687534695; the VMX writes the same DICT "
    "header on ESXi); note the trailing space",
    real_is_body=True,
    sample={"vmx": "/vmfs/volumes/3caac754-8a21b37f/win01/win01.vmx"},
)
VMX_TOOLS_STATUS = _vmx(
    "vmware.tools.running_status",
    "Tools: Changing running status: {old} => {new}.",
    r"Tools: Changing running status: [0-2] => [0-2]\.",
    HEADER_SAMPLES[("vmware", "7.0")],
    "log-samples/vmware.log.txt: open-vm-tools#327 (ESXi 6.x); 0 => 1 on recovery: " + _WS,
    sample={"old": 0, "new": 1},
)
VMX_TOOLS_RPC = _vmx(
    "vmware.tools.rpc_handler",
    "Tools: Running status rpc handler: {old} => {new}.",
    r"Tools: Running status rpc handler: [01] => [01]\.",
    "2026-01-02T13:06:08.731Z - Tools: Running status rpc handler: 1 => 0.",
    _WS,
    real_is_body=True,
    derive=(("2026-01-02T13:06:08.731Z - ", ""),),
    note="the notes quote the VMX lines after their timestamp with the level/thread columns removed",
    sample={"old": 1, "new": 0},
)
VMX_TOOLS_LAST_HB = _vmx(
    "vmware.tools.last_heartbeat",
    "Tools: [RunningStatus] Last heartbeat value {value} (last received {ago}s ago)",
    r"Tools: \[RunningStatus\] Last heartbeat value \d+ \(last received \d+s ago\)",
    "2026-01-02T13:06:08.732Z - Tools: [RunningStatus] Last heartbeat value 19519 (last received 20s ago)",
    _WS,
    real_is_body=True,
    note=_WS_NOTE,
    derive=(("2026-01-02T13:06:08.732Z - ", ""),),
    sample={"value": 19519, "ago": 20},
)
VMX_TOOLS_HB_TIMEOUT = _vmx(
    "vmware.tools.heartbeat_timeout",
    "Tools: Tools heartbeat timeout.",
    r"Tools: Tools heartbeat timeout\.",
    "2026-01-02T13:06:08.724Z - Tools: Tools heartbeat timeout.",
    _WS,
    real_is_body=True,
    note=_WS_NOTE,
    derive=(("2026-01-02T13:06:08.724Z - ", ""),),
    sample={},
)
VMX_GUESTRPC_TIMEOUT = _vmx(
    "vmware.guestrpc.timed_out",
    "GuestRpcSendTimedOut: message to toolbox timed out.",
    r"GuestRpcSendTimedOut: message to toolbox timed out\.",
    "2026-01-02T13:06:00.039Z - GuestRpcSendTimedOut: message to toolbox timed out.",
    _WS,
    real_is_body=True,
    note=_WS_NOTE,
    derive=(("2026-01-02T13:06:00.039Z - ", ""),),
    sample={},
)
VMX_TOOLS_APP_STATUS = _vmx(
    "vmware.tools.app_status",
    "TOOLS: appName=toolbox, oldStatus={old}, status={new}, guestInitiated=0.",
    r"TOOLS: appName=toolbox, oldStatus=\d, status=\d, guestInitiated=[01]\.",
    "2026-01-02T13:06:00.039Z - TOOLS: appName=toolbox, oldStatus=1, status=2, guestInitiated=0.",
    _WS,
    real_is_body=True,
    note=_WS_NOTE,
    derive=(("2026-01-02T13:06:00.039Z - ", ""),),
    sample={"old": 1, "new": 2},
)
VMX_WINBSOD = _vmx(
    "vmware.winbsod",
    "WinBSOD: Synthetic MSR[0x{msr:x}] 0x{value:x}",
    r"WinBSOD: Synthetic MSR\[0x4000010[0-4]\] 0x[0-9a-f]+",
    "YYYY-MM-DDTHH:MM:SS.XXXZ vcpu-0 - WinBSOD: Synthetic MSR[0x40000101] 0x4f4454",
    "log-samples/vmware.log.txt: KB 427504 (ESXi 7.x/8.x); the Wa(03) level and continuations: KB 392634/417490",
    real_is_body=True,
    derive=(("YYYY-MM-DDTHH:MM:SS.XXXZ vcpu-0 - ", ""),),
    note="the KB masks the timestamp and drops the level column",
    level="warning",
    sample={"msr": 0x40000100, "value": 0xEF},
)
VMX_CHIPSET_RESET = _vmx(
    "vmware.chipset.hard_reset",
    "Chipset: The guest has requested that the virtual machine be hard reset.",
    r"Chipset: The guest has requested that the virtual machine be hard reset\.",
    "Chipset: The guest has requested that the virtual machine be hard reset.",
    _GOS + ": the line VMware's GOS suite greps for a Windows guest reboot",
    real_is_body=True,
    sample={},
)
VMX_GUESTRPC_REINIT = _vmx(
    "vmware.guestrpc.reinit",
    "GuestRpc: Reinitializing Channel 0(toolbox)",
    r"GuestRpc: Reinitializing Channel \d+\(toolbox\)",
    "GuestRpc: Reinitializing Channel 0(toolbox)",
    _GOS,
    real_is_body=True,
    sample={},
)
VMX_CPU_RESET = _vmx(
    "vmware.cpu_reset",
    "CPU reset: {how}",
    r"CPU reset: (?:soft|hard)",
    "CPU reset: soft",
    "community mapping of vmware.log reset lines ('CPU reset: soft' = guest OS initiated reset, audit A6); "
    "the '(mode Emulation)' suffix the simulator wrote before is unverified and dropped",
    real_is_body=True,
    sample={"how": "soft"},
)
VMX_TOOLS_OS_REBOOT = _vmx(
    "vmware.tools.os_reboot",
    "Tools: sending 'OS_Reboot' (state = 2) state change request",
    r"Tools: sending 'OS_Reboot' \(state = \d\) state change request",
    "Tools: sending 'OS_Reboot' (state = 2) state change request",
    "VMware community thread 2580831 (audit A6)",
    real_is_body=True,
    sample={},
)
VMX_TOOLS_STATE_CHANGE = _vmx(
    "vmware.tools.state_change_returned",
    "TOOLS state change {state} returned status {status}",
    r"TOOLS state change \d returned status \d",
    "2019-03-14T12:03:04.445Z| vmx| I125: TOOLS state change 3 returned status 1",
    "log-samples/vmware.log.txt: open-vm-tools#327 (ESXi 6.x)",
    sample={"state": 2, "status": 1},
)

# ------------------------------------------------------------------------------------------------ vmksummary
VMKSUMMARY_BOOTSTOP = declare(
    name="vmksummary.bootstop",
    log="vmksummary",
    text="Host {what}",
    template=r"Host (?:has booted|is rebooting|is powering off|is halting)",
    real="2025-09-18T02:15:00.360Z bootstop[137121]: Host is halting",
    source="log-samples/vmksummary.txt: KB 317245 (ESXi 7/8)",
    extra={"program": "bootstop"},
    sample={"what": "has booted"},
)
VMKSUMMARY_HEARTBEAT = declare(
    name="vmksummary.heartbeat",
    log="vmksummary",
    text="up {uptime}, {count} VMs; [{procs}] []",
    template=r"up \d+d\d+h\d+m\d+s, \d+ VMs; \[(?:\[\d+ \S+ \d+kB\](?: \[\d+ \S+ \d+kB\])*)?\] \[.*\]",
    real=HEADER_SAMPLES[("vmksummary", "8.0")],
    source="log-samples/vmksummary.txt: KB 317245 (ESXi 7/8)",
    extra={"program": "heartbeat"},
    sample={"uptime": "0d1h0m3s", "count": 2, "procs": "[2101117 vmx 4181412kB] [2099871 hostd 181244kB]"},
)
