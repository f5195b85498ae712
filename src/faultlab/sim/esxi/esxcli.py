"""`esxcli` of a simulated host: `python -m faultlab.sim.esxi.esxcli storage nfs list` etc. over the control socket."""

from __future__ import annotations

import sys
from typing import Any

from faultlab.sim.esxi import formats
from faultlab.sim.esxi.control import ControlError, call, command_main
from faultlab.sim.esxi.esxcli_out import FORMATTERS, Field, Kind, Listing, render


def _opt(args: list[str], *names: str) -> str | None:
    for n, arg in enumerate(args):
        for name in names:
            if arg == name and n + 1 < len(args):
                return args[n + 1]
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


def _advanced(args: list[str], control: str) -> Listing:
    """`system settings advanced list [-o <option>]`: one record per option, every line indented
    (reference/esxcli/advanced.4.txt), a blank line between options (advanced.3-truncated.txt)."""
    answer = call(control, "settings.fields", option=_opt(args, "-o", "--option"))
    records = [[Field(name, value, Kind(kind)) for name, value, kind in option] for option in answer]
    return Listing("SettingsAdvancedOption", records, layout="records")


def _global_options(args: list[str]) -> tuple[str | None, list[str]]:
    """esxcli's own options come before the namespace: `--formatter=csv` / `--formatter csv`, `-f csv`."""
    formatter = None
    rest = list(args)
    while rest and rest[0].startswith("-"):
        arg = rest.pop(0)
        if arg.startswith("--formatter="):
            formatter = arg.split("=", 1)[1]
        elif arg in ("--formatter", "-f") and rest:
            formatter = rest.pop(0)
        else:
            rest.insert(0, arg)
            break
    return formatter, rest


LISTS = {
    ("storage", "filesystem", "list"): formats.filesystem_list,
    ("storage", "nfs", "list"): formats.nfs_list,
    ("storage", "nfs41", "list"): formats.nfs41_list,
    ("storage", "core", "device", "list"): formats.device_list,
}


def run(args: list[str], control: str) -> tuple[int, str]:
    """Returns (exit code, output). Errors print like esxcli and exit 1."""
    formatter, args = _global_options(args)
    if formatter is not None and formatter not in FORMATTERS:
        # [U] the real wording of an unknown formatter was not found; esxcli's "Error: ..." one-liner shape
        return 1, f"Error: Invalid formatter {formatter}. Valid formatters: {', '.join(FORMATTERS)}\n"
    words = [a for a in args if not a.startswith("-")]
    try:
        for key, build in LISTS.items():
            if tuple(words[: len(key)]) == key:
                return 0, render(build(call(control, "snapshot")), formatter)
        if words[:4] == ["storage", "core", "path", "list"]:
            snap = call(control, "snapshot")
            return 0, render(formats.path_list(snap, _initiator(snap)), formatter)
        if words[:4] == ["storage", "core", "path", "set"]:
            return _path_set(args, control)
        if args[:4] == ["system", "settings", "advanced", "list"]:
            return 0, render(_advanced(args, control), formatter)
        if args[:4] == ["system", "settings", "advanced", "set"]:
            return _advanced_set(args, control)
    except ControlError as exc:
        return 1, f"{exc}\n"
    # The one line a real host prints (VMware KB text quoted in GitHub index id 57514804242, ESXi 6.0:
    # `Error: Unknown command or namespace graphics host refresh`).
    return 1, f"Error: Unknown command or namespace {' '.join(words)}\n"


def _advanced_set(args: list[str], control: str) -> tuple[int, str]:
    option = _opt(args, "-o", "--option")
    int_value = _opt(args, "-i", "--int-value")
    str_value = _opt(args, "-s", "--string-value")
    if option is None or (int_value is None) == (str_value is None):
        return 1, "Error: Missing required parameter -o|--option and one of -i|--int-value, -s|--string-value\n"
    value: int | str = str_value if str_value is not None else str(int_value)
    if int_value is not None:
        try:
            value = int(int_value)
        except ValueError:
            return 1, f"Error: Invalid value for -i|--int-value: {int_value}\n"
    call(control, "settings.set", option=option, value=value)
    return 0, ""


def main(argv: list[str] | None = None) -> int:
    return command_main("esxcli", run, argv)


if __name__ == "__main__":
    sys.exit(main())
