"""Consoles for the command line's reports: the terminal's width, or a readable one when output is piped."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console

PIPED_WIDTH = 160  # a log file or CI output has no width; rich's 80 columns squeeze a timeline's text unreadable


def report_console(file: TextIO | None = None, soft_wrap: bool = False) -> Console:
    """A Console on `file` (stdout): the terminal's width on a terminal, else $COLUMNS, else PIPED_WIDTH."""
    stream = file or sys.stdout
    width: int | None = None
    if not stream.isatty():
        columns = os.environ.get("COLUMNS", "")
        width = int(columns) if columns.isdigit() and int(columns) > 0 else PIPED_WIDTH
    return Console(file=file, width=width, highlight=False, soft_wrap=soft_wrap)
