"""`vim-cmd` of a simulated host, answered over its control socket (`python -m faultlab.sim.esxi.commands.vimcmd`)."""

from __future__ import annotations

import sys
from typing import Any

from faultlab.sim.esxi.commands import formats
from faultlab.sim.esxi.commands.control import ControlError, call, command_main


def fault(name: str, msg: str, fields: tuple[tuple[str, str], ...] = ()) -> str:
    """A vim-cmd fault block in the layout of ESXi 6.5+ (reference/esxcli/vimcmd-fault.1.txt, a real host:
    `faultCause = (vmodl.MethodFault) null, ` and `faultMessage = <unset>, ` then the fault's own fields, each
    line but the last ending with ", ", then the msg line; vimcmd-fault.fixture-notfound.txt for NotFound)."""
    lines = [("faultCause", "(vmodl.MethodFault) null"), ("faultMessage", "<unset>"), *fields]
    body = [f"   {k} = {v}" + (", " if n < len(lines) - 1 else "") for n, (k, v) in enumerate(lines)]
    return f"(vim.fault.{name}) {{\n" + "\n".join(body) + f'\n   msg = "{msg}"\n}}\n'


# vim-cmd's answers to the vmsvc commands it knows (vmid argument missing, VM unknown, vim.fault.*)
USAGE = "Insufficient arguments.\nUsage: {cmd} vmid\n"  # [U] no real sample


def not_found(vmid: str) -> str:
    return fault("NotFound", f'Unable to find a VM corresponding to "{vmid}"')


# The API's message (many API clients, reference/esxcli/SOURCES.md); vim-cmd's block layout as fault() says.
TOOLS_UNAVAILABLE = fault(
    "ToolsUnavailable", "Cannot complete operation because VMware Tools is not running in this virtual machine."
)


def invalid_power_state(state: str, existing: str) -> str:
    """vimcmd-fault.1.txt: requestedState / existingState, then the msg naming the state as the UI does."""
    return fault(
        "InvalidPowerState",
        f"The attempted operation cannot be performed in the current state ({state}).",
        (("requestedState", '"poweredOn"'), ("existingState", f'"{existing}"')),
    )


VM_COMMANDS = ("power.getstate", "power.reboot", "get.guestheartbeatStatus")


def _find_vm(control: str, vmid: str) -> dict[str, Any] | None:
    snapshot = call(control, "snapshot")
    for vm in [*snapshot["vms"], *snapshot.get("vcls", [])]:
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
        return 1, invalid_power_state(formats.POWER_TEXT.get(power, power), power)
    return 1, TOOLS_UNAVAILABLE


def _vm_command(control: str, cmd: str, vmid: str) -> tuple[int, str]:
    vm = _find_vm(control, vmid)
    if vm is None:
        return 1, not_found(vmid)
    if cmd == "power.getstate":
        return 0, formats.power_getstate(vm)
    if cmd == "get.guestheartbeatStatus":
        return 0, f"{vm['guestHeartbeatStatus']}\n"  # green / yellow / red / gray, one line
    if vm.get("vcls"):  # a vCLS VM reports no Tools (heartbeat gray): RebootGuest needs them
        return 1, TOOLS_UNAVAILABLE
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
