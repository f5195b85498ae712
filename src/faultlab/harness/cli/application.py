"""The `faultlab` typer application: every command, those of SSH, pyVmomi and the simulator loaded lazily."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any

import typer
from typer import _click as click  # typer's own click: its groups and commands are these types
from typer.core import TyperCommand, TyperGroup

try:  # typer's coercion layer (private): text parameters get a pass-through below
    from typer._coercion import RuntimeParam, build_runtime_param
except ImportError:  # pragma: no cover - another typer: every value goes through typer's own coercion
    RuntimeParam = None  # type: ignore[assignment,misc]

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


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainParam(RuntimeParam):
        """A text or flag parameter's value as given. typer coerces every value through a pydantic TypeAdapter
        built on first use: importing pydantic and building the adapters is 0.1-0.15 s of every command, for
        text that stays text and flags that are already bools. Any other value goes to typer's own coercion."""

        def _coerce_value(self, value: Any, param: Any, ctx: click.Context) -> Any:
            if self.annotation is bool and isinstance(value, bool):
                return value
            if self.annotation is str and isinstance(value, str):
                return value
            if (
                self.annotation == list[str]
                and isinstance(value, list | tuple)
                and all(isinstance(v, str) for v in value)
            ):
                return list(value)
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)


def plain_params(params: list[Any]) -> list[Any]:
    """Give the text and flag parameters (`str`, `list[str]`, `bool`, no custom parser) the pass-through
    `_PlainParam` before typer builds its pydantic one; returns `params`."""
    if RuntimeParam is None:  # pragma: no cover - see the import
        return params
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if (
            descriptor is not None
            and getattr(param, "_runtime_param", ...) is None  # typer builds it on first use
            and descriptor.annotation in (str, list[str], bool)
            and descriptor.parameter_info.parser is None
            and descriptor.file_annotation is None
        ):
            param._runtime_param = _PlainParam(
                parameter_info=descriptor.parameter_info, annotation=descriptor.annotation
            )
    return params


class _PlainCommand(TyperCommand):
    def get_params(self, ctx: click.Context) -> list[Any]:
        return plain_params(super().get_params(ctx))


def load_command(name: str, lazy: LazyCommand) -> click.Command:
    """The real click command behind a lazy entry (imports its module)."""
    target = getattr(importlib.import_module(lazy.module), lazy.attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):  # a sub-group, as `app.add_typer` would add it (no completion options)
        holder.add_typer(target, name=name)
        group = typer.main.get_command(holder)
        assert isinstance(group, TyperGroup)
        return group.commands[name]
    holder.command(name, help=lazy.help, cls=_PlainCommand)(target)
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
        return plain_params(super().get_params(ctx))

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


app.command("triage", cls=_PlainCommand)(triage_cmd)
