"""Build the vcsim launcher (main.go) with Debian's Go and govmomi, offline, and cache the binary by source hash."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from faultlab.sim.errors import CommandError, EmbeddedLabError, MissingPackagesError

SOURCE = Path(__file__).with_name("main.go")
GOVMOMI_SRC = Path("/usr/share/gocode/src/github.com/vmware/govmomi")
SYSTEM_CACHE = Path("/var/cache/faultlab")
BINARY_NAME = "faultlab-vcsim"
BUILD_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class BuildResult:
    """Where the launcher binary is, whether this call built it, and how long the build took."""

    binary: Path
    built: bool
    seconds: float


def default_cache_root() -> Path:
    """/var/cache/faultlab when writable (root), else $XDG_CACHE_HOME or ~/.cache/faultlab."""
    try:
        SYSTEM_CACHE.mkdir(parents=True, exist_ok=True)
        if os.access(SYSTEM_CACHE, os.W_OK):
            return SYSTEM_CACHE
    except OSError:
        pass
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "faultlab"


def _go() -> str:
    go = shutil.which("go") or ("/usr/bin/go" if Path("/usr/bin/go").exists() else None)
    missing = [p for p, ok in (("golang-go", go), ("golang-github-vmware-govmomi-dev", GOVMOMI_SRC.is_dir())) if not ok]
    if missing:
        raise MissingPackagesError(missing)
    assert go is not None
    return go


def _go_version(go: str) -> str:
    return subprocess.run([go, "version"], capture_output=True, text=True, check=False, timeout=30).stdout.strip()


def _govmomi_version() -> str:
    # The Debian package version says which govmomi the launcher links: a package upgrade rebuilds it.
    argv = ["dpkg-query", "-W", "-f", "${Version}", "golang-github-vmware-govmomi-dev"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return "unknown"
    return proc.stdout.strip() or "unknown"


def source_key(go: str) -> str:
    """Hash of what the binary depends on: main.go, the Go toolchain and govmomi's version."""
    h = hashlib.sha256()
    h.update(SOURCE.read_bytes())
    h.update(_go_version(go).encode())
    h.update(_govmomi_version().encode())
    return h.hexdigest()[:16]


def build_env(gopath: Path, cache_root: Path) -> dict[str, str]:
    """GOPATH mode, no modules, no network: everything comes from /usr/share/gocode."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cache_root),
        "GO111MODULE": "off",
        "GOPATH": f"{gopath}:/usr/share/gocode",
        "GOPROXY": "off",
        "GOFLAGS": "",
        "CGO_ENABLED": "0",
        "GOCACHE": str(cache_root / "go-build"),
        "GOTOOLCHAIN": "local",
    }


def ensure_binary(cache_root: Path | None = None) -> BuildResult:
    """The cached launcher binary for the current main.go; builds it (atomically) when missing or stale."""
    go = _go()
    root = cache_root or default_cache_root()
    target = root / "vcsim" / source_key(go) / BINARY_NAME
    if target.exists():
        return BuildResult(target, built=False, seconds=0.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="faultlab-vcsim-", dir=target.parent) as tmp:
        gopath = Path(tmp)
        pkg = gopath / "src" / BINARY_NAME
        pkg.mkdir(parents=True)
        shutil.copy2(SOURCE, pkg / "main.go")
        out = gopath / BINARY_NAME
        argv = [go, "build", "-trimpath", "-o", str(out), "."]
        proc = subprocess.run(
            argv,
            cwd=pkg,
            env=build_env(gopath, root),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout, "building the simulated vCenter")
        if not out.exists():
            raise EmbeddedLabError(f"go build reported success but wrote no {out}")
        os.replace(out, target)  # atomic: a concurrent build of the same source just wins or loses the rename
    return BuildResult(target, built=True, seconds=time.monotonic() - started)
