"""The `faultlab` command line: triage logs, run the embedded lab, run and judge scenarios."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer's own click: its groups and commands are these types
from typer.core import TyperCommand, TyperGroup

from faultlab.harness.cli.triage import triage_cmd


@dataclass(frozen=True, slots=True)
class LazyCommand:
    """A sub-command whose module (SSH, pyVmomi, the harness, the simulator) is imported only when it runs."""

    module: str
    attribute: str  # a command function, or a Typer app for a group
    short_help: str  # shown by `faultlab --help` without importing the module (a unit test keeps it in step)
    help: str | None = None


LAZY_COMMANDS: dict[str, LazyCommand] = {
    "run": LazyCommand(
        "faultlab.harness.cli.run", "run", "Run scenarios: inject, hold, heal, recover, collect the logs and judge..."
    ),
    "judge": LazyCommand(
        "faultlab.harness.cli.run", "judge", "Judge a finished run again, offline, from its record and the log..."
    ),
    "report": LazyCommand(
        "faultlab.harness.cli.report", "report", "Write report.html, junit.xml and vcenter-events.json next to the..."
    ),
    "compare": LazyCommand(
        "faultlab.harness.cli.compare", "compare_cmd", "Compare runs of one scenario (before/after a firmware or..."
    ),
    "history": LazyCommand(
        "faultlab.harness.cli.history",
        "history",
        "List recorded runs with outcome, lab, settings, versions and recovery measures; flag drifts and...",
    ),
    "heal": LazyCommand(
        "faultlab.harness.cli.heal",
        "heal",
        "Heal every fault a ledger lists (after a crashed or killed run).",
        help="Heal every fault a ledger lists (after a crashed or killed run).",
    ),
}
if importlib.util.find_spec("faultlab.sim") is not None:  # the embedded lab's commands
    LAZY_COMMANDS["lab"] = LazyCommand(
        "faultlab.harness.cli.lab", "lab_app", "Start, stop and inspect the embedded lab (needs root)."
    )


def load_command(name: str, lazy: LazyCommand) -> click.Command:
    """The real click command behind a lazy entry (imports its module)."""
    target = getattr(importlib.import_module(lazy.module), lazy.attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):  # a sub-group, as `app.add_typer` would add it (no completion options)
        holder.add_typer(target, name=name)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[name]
    holder.command(name, help=lazy.help)(target)
    command = typer.main.get_command(holder)
    command.name = name
    return command


class _Placeholder(TyperCommand):
    """Stands in for a lazy command in the help listing; parsing its arguments loads the real one."""

    def __init__(self, name: str, lazy: LazyCommand) -> None:
        super().__init__(name, short_help=lazy.short_help, help=lazy.short_help)
        self.lazy = lazy

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        real = load_command(self.name or "", self.lazy)
        return real.make_context(info_name, args, parent=parent, **extra)


class _LazyGroup(TyperGroup):
    def get_params(self, ctx: click.Context) -> list[Any]:
        # typer coerces an unset flag (--help, --install-completion: None) through pydantic, 0.1 s of
        # `faultlab triage --help` spent importing it; an unset flag is False.
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.default is None:
                param.default = False
        return params

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_COMMANDS:
            return _Placeholder(cmd_name, LAZY_COMMANDS[cmd_name])
        return found


app = typer.Typer(
    name="faultlab",
    help="Reproduce vSphere storage faults on purpose and judge, from ESXi logs, what happened.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_LazyGroup,
)


@app.callback()
def _root() -> None:
    """faultlab: storage faults on purpose, judged from ESXi logs and the vSphere API."""


app.command("triage")(triage_cmd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
