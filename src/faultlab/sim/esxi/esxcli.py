"""`esxcli` of a simulated host: `python -m faultlab.sim.esxi.esxcli storage nfs list` etc. over the control socket."""

from __future__ import annotations

import sys
from typing import Any

from faultlab.sim.esxi import formats
from faultlab.sim.esxi.control import ControlError, call, command_main

USAGE = """Usage: esxcli [options] {namespace}+ {cmd} [cmd options]
Supported here: storage nfs list | storage core device list | storage core path list |
  storage core path set --state active|off -p|--path <path UID or runtime name> |
  system settings advanced list [-o <option>] | system settings advanced set -o <option> (-i <int> | -s <str>)"""


def _opt(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _path_set(args: list[str], control: str) -> tuple[int, str]:
    """`storage core path set --state off|active -p|--path <UID or Runtime Name>`: silent on success."""
    path = _opt(args, "-p", "--path")
    state = _opt(args, "--state")
    if path is None or state is None:
        missing = "-p|--path" if path is None else "--state"
        return 1, f"Error: Missing required parameter {missing}\n"
    if state not in formats.PATH_STATES:
        return 1, formats.bad_path_state(state) + "\n"
    snap = call(control, "snapshot")
    ds = formats.find_path(snap, _initiator(snap), path)
    if ds is None:
        return 1, formats.path_not_found(path) + "\n"
    call(control, "path.set", runtime=ds["path"], state=state)
    return 0, ""


def _initiator(snapshot: dict[str, Any]) -> str:
    return f"iqn.1998-01.com.vmware:{snapshot['host']}-4f6c3a21"


def run(args: list[str], control: str) -> tuple[int, str]:
    """Returns (exit code, output). Errors print like esxcli and exit 1."""
    words = [a for a in args if not a.startswith("-")]
    try:
        if words[:3] == ["storage", "filesystem", "list"]:
            return 0, formats.filesystem_list(call(control, "snapshot"))
        if words[:3] == ["storage", "nfs", "list"]:
            return 0, formats.nfs_list(call(control, "snapshot"))
        if words[:4] == ["storage", "core", "device", "list"]:
            return 0, formats.device_list(call(control, "snapshot"))
        if words[:4] == ["storage", "core", "path", "list"]:
            snap = call(control, "snapshot")
            return 0, formats.path_list(snap, _initiator(snap))
        if words[:4] == ["storage", "core", "path", "set"]:
            return _path_set(args, control)
        if args[:4] == ["system", "settings", "advanced", "list"]:
            return 0, str(call(control, "settings.list", option=_opt(args, "-o", "--option")))
        if args[:4] == ["system", "settings", "advanced", "set"]:
            option = _opt(args, "-o", "--option")
            int_value = _opt(args, "-i", "--int-value")
            str_value = _opt(args, "-s", "--string-value")
            if option is None or (int_value is None) == (str_value is None):
                return 1, "Error: Missing required parameter -o|--option and one of -i|--int-value, -s|--string-value\n"
            value: int | str = str_value if str_value is not None else int_value  # type: ignore[assignment]
            if int_value is not None:
                try:
                    value = int(int_value)
                except ValueError:
                    return 1, f"Error: Invalid value for -i|--int-value: {int_value}\n"
            call(control, "settings.set", option=option, value=value)
            return 0, ""
    except ControlError as exc:
        return 1, f"{exc}\n"
    return 1, f"Error: Unknown command or namespace {' '.join(words)}\n{USAGE}\n"


def main(argv: list[str] | None = None) -> int:
    return command_main("esxcli", run, argv)


if __name__ == "__main__":
    sys.exit(main())
