"""`vim-cmd` of a simulated host: `python -m faultlab.sim.esxi.vimcmd vmsvc/getallvms` etc. over the control socket."""

from __future__ import annotations

import sys
from typing import Any

from faultlab.sim.esxi import formats
from faultlab.sim.esxi.control import ControlError, call, command_main

# vim-cmd's answers to the vmsvc commands it knows (vmid argument missing, VM unknown, vim.fault.*)
USAGE = "Insufficient arguments.\nUsage: {cmd} vmid\n"
NOT_FOUND = 'Unable to find a VM corresponding to "{vmid}"\n'
TOOLS_UNAVAILABLE = (
    "(vim.fault.ToolsUnavailable) {\n"
    '   msg = "Cannot complete operation because VMware Tools is not running in this virtual machine."\n'
    "}\n"
)
INVALID_POWER_STATE = (
    "(vim.fault.InvalidPowerState) {\n"
    '   msg = "The attempted operation cannot be performed in the current state ({state})."\n'
    "}\n"
)
VM_COMMANDS = ("power.getstate", "power.reboot", "get.guestheartbeatStatus")


def _find_vm(control: str, vmid: str) -> dict[str, Any] | None:
    for vm in call(control, "snapshot")["vms"]:
        if str(vm["vmid"]) == vmid:
            return dict(vm)
    return None


def _reboot(control: str, vm: dict[str, Any]) -> tuple[int, str]:
    """RebootGuest through Tools: returns once the guest has begun to restart, prints nothing on success."""
    answer = call(control, "guest.reboot", vm=vm["name"], wait=False)
    if answer.get("rebooted"):
        return 0, ""
    power = answer.get("powerState", vm["powerState"])
    if power != "poweredOn":
        return 1, INVALID_POWER_STATE.replace("{state}", formats.POWER_TEXT.get(power, power))
    return 1, TOOLS_UNAVAILABLE


def _vm_command(control: str, cmd: str, vmid: str) -> tuple[int, str]:
    vm = _find_vm(control, vmid)
    if vm is None:
        return 1, NOT_FOUND.format(vmid=vmid)
    if cmd == "power.getstate":
        return 0, formats.power_getstate(vm)
    if cmd == "get.guestheartbeatStatus":
        return 0, f"{vm['guestHeartbeatStatus']}\n"  # green / yellow / red / gray, one line
    return _reboot(control, vm)


def run(args: list[str], control: str) -> tuple[int, str]:
    """(exit status, output) of `vim-cmd ARGS` against the host at `control`."""
    if not args:
        return 1, "Commands available under /:\nvmsvc/\n"
    try:
        if args[0] == "vmsvc/getallvms":
            return 0, formats.getallvms(call(control, "snapshot"))
        cmd = args[0].removeprefix("vmsvc/")
        if args[0].startswith("vmsvc/") and cmd in VM_COMMANDS:
            if len(args) < 2:
                return 1, USAGE.format(cmd=cmd)
            return _vm_command(control, cmd, args[1])
    except ControlError as exc:
        return 1, f"{exc}\n"
    return 1, f"Unknown command: '{args[0]}'\n"


def main(argv: list[str] | None = None) -> int:
    return command_main("vim-cmd", run, argv)


if __name__ == "__main__":
    sys.exit(main())
