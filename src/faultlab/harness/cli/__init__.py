"""The `faultlab` command line: triage logs, run the embedded lab, run and judge scenarios.

`main` reads a plain `faultlab triage` command line without loading typer (see triage_run); everything else
goes to the typer application in `application`, whose names (app, LAZY_COMMANDS, load_command ...) this package
also offers, loaded on first use.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["triage"]:
        from faultlab.harness.cli.triage_run import parse_plain, run_triage

        plain = parse_plain(argv[1:])
        if plain is not None:
            try:
                sys.exit(run_triage(plain))
            except KeyboardInterrupt:  # as click answers it
                print("\nAborted!", file=sys.stderr)
                sys.exit(1)
            except BrokenPipeError:  # the reader left (`| head`): no traceback, as with click
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                sys.exit(1)
    from faultlab.harness.cli.application import app

    app()


def __getattr__(name: str) -> Any:
    """The typer application's names (`from faultlab.harness.cli import app`), imported on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    application = importlib.import_module("faultlab.harness.cli.application")
    try:
        return getattr(application, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


if __name__ == "__main__":
    main()
