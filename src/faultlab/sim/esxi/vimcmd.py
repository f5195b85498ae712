"""`vim-cmd` of a simulated host: `python -m faultlab.sim.esxi.vimcmd vmsvc/getallvms` etc. over the control socket."""

from __future__ import annotations

import os
import sys

from faultlab.sim.esxi import formats
from faultlab.sim.esxi.control import ENV_VAR, ControlError, call


def run(args: list[str], control: str) -> tuple[int, str]:
    if not args:
        return 1, "Commands available under /:\nvmsvc/\n"
    try:
        if args[0] == "vmsvc/getallvms":
            return 0, formats.getallvms(call(control, "snapshot"))
        if args[0] == "vmsvc/power.getstate":
            if len(args) < 2:
                return 1, "Insufficient arguments.\nUsage: power.getstate vmid\n"
            for vm in call(control, "snapshot")["vms"]:
                if str(vm["vmid"]) == args[1]:
                    return 0, formats.power_getstate(vm)
            return 1, f'Unable to find a VM corresponding to "{args[1]}"\n'
    except ControlError as exc:
        return 1, f"{exc}\n"
    return 1, f"Unknown command: '{args[0]}'\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    control = os.environ.get(ENV_VAR, "")
    if args[:1] == ["--control"] and len(args) > 1:
        control, args = args[1], args[2:]
    if not control:
        sys.stderr.write(f"vim-cmd: set {ENV_VAR} or pass --control <socket>\n")
        return 1
    code, out = run(args, control)
    (sys.stdout if code == 0 else sys.stderr).write(out)
    return code


if __name__ == "__main__":
    sys.exit(main())
