#!/usr/bin/env bash
# One idempotent setup step: Debian packages (when root) and the project's virtual environment.
# Called by every make target; safe to run again. Set FAULTLAB_SKIP_APT=1 to skip apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  # the embedded lab: namespaces, firewall, SSH, storage targets and their clients
  iproute2 iptables openssh-server openssh-client procps psmisc
  nfs-ganesha nfs-ganesha-vfs rpcbind libnfs-utils tgt libiscsi-bin
  # the simulated ESXi hosts' shell: busybox sh and its applets, as on ESXi
  busybox
  # the simulated vCenter is built from Debian's govmomi sources
  golang-go golang-github-vmware-govmomi-dev
  # report rendering check
  chromium
  # the run history's PostgreSQL tests start a throwaway server from these binaries
  postgresql
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})) && [[ "${FAULTLAB_SKIP_APT:-0}" != 1 ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian starts services on install; the lab runs its own copies inside namespaces.
    for svc in nfs-ganesha tgt rpcbind ssh postgresql; do
      systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
  else
    echo "setup: cannot install Debian packages (not root or no apt-get); run as root: apt-get install ${missing[*]}" >&2
  fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.faultlab-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e '.[dev]'
  touch "$stamp"
fi
