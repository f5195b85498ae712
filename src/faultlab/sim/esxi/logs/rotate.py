"""An append-only log file rotated by size as ESXi's vmsyslogd does: name.log -> name.0.gz, .1.gz, ..."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path


class RotatingLog:
    """Appends whole lines; past `max_bytes` the file is gzipped to `<stem>.0.gz` (older ones shift up)."""

    def __init__(self, path: Path, max_bytes: int = 1024 * 1024, keep: int = 8) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)  # every log exists from boot on, as on ESXi (readers mark size + inode)

    def rotated(self, index: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.{index}.gz")

    def write_lines(self, lines: list[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        with self._lock:
            with open(self.path, "ab") as handle:
                handle.write(data)
                handle.flush()
            if self.path.stat().st_size >= self.max_bytes:
                self._rotate()

    def _rotate(self) -> None:
        oldest = self.rotated(self.keep - 1)
        oldest.unlink(missing_ok=True)
        for index in range(self.keep - 2, -1, -1):
            src = self.rotated(index)
            if src.exists():
                src.rename(self.rotated(index + 1))
        # The live file is renamed away (a new inode follows), as vmsyslogd does, then compressed.
        staged = self.path.with_name(self.path.name + ".rotating")
        os.replace(self.path, staged)
        tmp = self.rotated(0).with_name(self.rotated(0).name + ".tmp")
        with open(staged, "rb") as src_handle, gzip.open(tmp, "wb") as dst:
            dst.write(src_handle.read())
        os.replace(tmp, self.rotated(0))
        staged.unlink()
        self.path.touch()
