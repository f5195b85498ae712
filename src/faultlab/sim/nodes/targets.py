"""Storage target nodes: ganesha/rpcbind and tgtd configuration and the `faultlab-target` service command.

`faultlab-target {start|stop|restart|status|freeze|thaw}` (plus `lun-remove|lun-add|lun-status [LUN]` on the
iSCSI node, LUN 1 by default) is on the node's SSH PATH and acts on the node's daemon through its pid file, like
`systemctl start nfs-ganesha` on a real storage server: faults are injected over SSH with the same commands a real
lab uses.
`status` prints one line, ``active (running) pid N``, ``active (frozen) pid N`` or ``inactive (dead)``,
and exits 0 when the process exists, 3 when it does not (systemctl's convention).
"""

from __future__ import annotations

from pathlib import Path

from faultlab.sim.kernel.node import node_dirs
from faultlab.sim.topology import Layout, NodeSpec

NFS_PORTS = {"rpcbind": 111, "nfs": 2049, "mountd": 20048, "nlm": 32803, "rquota": 875}
ISCSI_PORT = 3260
TARGET_COMMAND = "faultlab-target"

_COMMON = r"""
set -e
PIDFILE=$N/run/target.pid
LOG=$N/run/log

pid() { [ -s "$PIDFILE" ] && cat "$PIDFILE"; }
# A daemon that exited stays a zombie until init reaps it (here pid 1 may take seconds: `kill -0` still succeeds
# and start-stop-daemon --stop kept waiting 1-2 s): an exited daemon is not running.
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)" != Z ]; }
running() { p=$(pid) && alive "$p"; }
gone_within() {  # gone_within PID SECONDS: poll every 0.05 s until the process has exited
  n=$(($2 * 20))
  while alive "$1"; do
    n=$((n - 1)); [ "$n" -gt 0 ] || return 1
    sleep 0.05
  done
}
listening() { ss -Hltn "sport = :$1" | grep -q .; }
wait_for() {  # wait_for SECONDS WHAT COMMAND...: poll COMMAND every 0.1 s
  n=$(($1 * 10)); what=$2; shift 2
  while ! "$@"; do
    n=$((n - 1)); [ "$n" -gt 0 ] || { echo "$NAME: timed out waiting for $what" >&2; exit 1; }
    sleep 0.1
  done
}
status() {
  if running; then
    p=$(pid)
    case $(sed 's/.*) //' "/proc/$p/stat" | cut -d' ' -f1) in
      T|t) echo "$NAME: active (frozen) pid $p" ;;
      *) echo "$NAME: active (running) pid $p" ;;
    esac
  else
    echo "$NAME: inactive (dead)"; return 3
  fi
}
stop() {
  running || { echo "$NAME: inactive (dead)"; return 0; }
  p=$(pid)
  kill -CONT "$p" 2>/dev/null || true   # a frozen daemon must run to act on SIGTERM
  before_stop
  kill -TERM "$p" 2>/dev/null || true
  if ! gone_within "$p" 5; then
    kill -KILL "$p" 2>/dev/null || true
    gone_within "$p" 5 || { echo "$NAME: pid $p did not exit after SIGKILL" >&2; return 1; }
  fi
  rm -f "$PIDFILE"
  echo "$NAME: stopped"
}
freeze() { running || { echo "$NAME: not running" >&2; exit 1; }; kill -STOP "$(pid)"; echo "$NAME: frozen"; }
thaw() { running || { echo "$NAME: not running" >&2; exit 1; }; kill -CONT "$(pid)"; echo "$NAME: thawed"; }
daemon() {  # daemon PIDFILE OUTPUT PROGRAM ARGS...
  pf=$1; out=$2; prog=$3; shift 3
  start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$pf" --output "$out" \
    --chdir "$N" --startas "$prog" -- "$@"
}
"""

_NFS = r"""
before_stop() { :; }
start() {
  if running; then echo "$NAME: already active (running) pid $(pid)"; return 0; fi
  if ! { [ -s "$N/run/rpcbind.pid" ] && kill -0 "$(cat "$N/run/rpcbind.pid")" 2>/dev/null; }; then
    daemon "$N/run/rpcbind.pid" "$LOG/rpcbind.out" /usr/sbin/rpcbind -w -f
    wait_for 10 rpcbind listening 111
  fi
  mkdir -p /run/ganesha
  daemon "$PIDFILE" "$LOG/ganesha.out" /usr/bin/ganesha.nfsd -F -f "$N/ganesha.conf" \
    -L "$LOG/ganesha.log" -p /run/ganesha/ganesha.pid
  wait_for 30 "nfs port 2049" listening 2049
  echo "$NAME: started pid $(pid)"
}
case ${1:-} in
  start|stop|status|freeze|thaw) "$1" ;;
  restart) stop; start ;;
  *) echo "usage: faultlab-target {start|stop|restart|status|freeze|thaw}" >&2; exit 2 ;;
esac
"""

_ISCSI = r"""
TGTADM="tgtadm --lld iscsi"
# The LUN verbs take a LUN number (default 1, the datastore's LUN), as `tgtadm --mode logicalunit --lun N` does.
lun_no() {
  case ${1:-1} in ''|*[!0-9]*) echo "$NAME: bad LUN number '${1:-}'" >&2; exit 2 ;; esac
  echo "${1:-1}"
}
# One LUN's block of `tgtadm --op show --mode target`: tgt's target show prints "LUN: N" (two tabs in), then that
# LUN's "SCSI SN:" ... "Backing store path:" lines (three tabs in) up to the next "LUN:" (fujita/tgt usr/target.c).
lun_block() { $TGTADM --op show --mode target | awk -v n="$1" '$1 == "LUN:" { on = ($2 == n) } on'; }
lun_field() { lun_block "$1" | sed -n "s/^[[:space:]]*$2: //p"; }
# A removed LUN's backing store and serial are kept in run/lun<N>.removed, so lun-add <N> presents the same disk
# again (a real array keeps the volume; only its mapping goes). LUN 1 is the lab's own disk.
lun_add() {
  n=$1; saved="$N/run/lun$n.removed"; backing=; sn=
  if [ -s "$saved" ]; then { read -r backing; read -r sn; } < "$saved"
  elif [ "$n" = 1 ]; then backing=$LUNFILE; sn=$SCSI_SN
  else echo "$NAME: LUN $n was not removed by faultlab-target: its backing store is unknown" >&2; return 1; fi
  $TGTADM --op new --mode logicalunit --tid 1 --lun "$n" --backing-store "$backing"
  [ -z "$sn" ] || $TGTADM --op update --mode logicalunit --tid 1 --lun "$n" --params "scsi_sn=$sn"
  rm -f "$saved"
}
# tgtd refuses to delete a LUN with commands in flight ("this logical unit is still active"): the initiator
# keeps I/O going, so retry for up to 5 s; a real array removes the LUN under I/O, which is the point here.
lun_remove() {
  local out i n=$1
  lun_present "$n" || { echo "$NAME: LUN $n not presented" >&2; return 1; }
  printf '%s\n%s\n' "$(lun_field "$n" 'Backing store path')" "$(lun_field "$n" 'SCSI SN')" > "$N/run/lun$n.removed"
  for i in $(seq 50); do
    out=$($TGTADM --op delete --mode logicalunit --tid 1 --lun "$n" 2>&1) && return 0
    case "$out" in *"still active"*) sleep 0.1 ;; *) echo "$out" >&2; return 1 ;; esac
  done
  echo "$out" >&2; return 1
}
# tgtd does not exit on SIGTERM while it has targets: shut it down as tgt.service's ExecStop does
# (targets deleted, then the "system"); SIGTERM/SIGKILL remain the fallback.
before_stop() {
  $TGTADM --op delete --force --mode target --tid 1 >/dev/null 2>&1 || true
  tgtadm --op delete --mode system >/dev/null 2>&1 || true
}
tgt_answers() { tgtadm --op show --mode system >/dev/null 2>&1; }
start() {
  if running; then echo "$NAME: already active (running) pid $(pid)"; return 0; fi
  rm -f /run/tgtd/socket.0 /run/tgtd/socket.0.lock  # a killed tgtd leaves them behind
  rm -f "$N"/run/lun*.removed  # a fresh tgtd presents LUN 1 only
  daemon "$PIDFILE" "$LOG/tgtd.log" /usr/sbin/tgtd -f
  wait_for 10 "tgtd control socket" tgt_answers
  $TGTADM --op new --mode target --tid 1 --targetname "$IQN"
  lun_add 1
  $TGTADM --op bind --mode target --tid 1 --initiator-address ALL
  wait_for 10 "iscsi port 3260" listening 3260
  echo "$NAME: started pid $(pid)"
}
lun_present() { $TGTADM --op show --mode target | grep -q "LUN: $1$"; }
lun_status() {
  if running && lun_present "$1"; then echo "$NAME: LUN $1 presented"; return 0; fi
  echo "$NAME: LUN $1 not presented"; return 3
}
case ${1:-} in
  start|stop|status|freeze|thaw) "$1" ;;
  lun-status) n=$(lun_no "${2:-}"); lun_status "$n" ;;
  restart) stop; start ;;
  lun-remove)
    n=$(lun_no "${2:-}"); running || { echo "$NAME: not running" >&2; exit 1; }
    lun_remove "$n"; echo "$NAME: LUN $n removed" ;;
  lun-add)
    n=$(lun_no "${2:-}"); running || { echo "$NAME: not running" >&2; exit 1; }
    lun_add "$n"; echo "$NAME: LUN $n added" ;;
  *) echo "usage: faultlab-target {start|stop|restart|status|freeze|thaw|lun-remove|lun-add|lun-status} [LUN]" >&2
     exit 2 ;;
esac
"""


def _header(node: NodeSpec, layout: Layout, service: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# faultlab-target: the {service} service of node {node.name} (lab {layout.lab_id}).\n"
        f"N={node.node_dir}\nNAME={service}\n"
    )


def nfs_target_script(layout: Layout) -> str:
    return _header(layout.nfs_node, layout, "nfs-ganesha") + _COMMON + _NFS


def iscsi_target_script(layout: Layout) -> str:
    head = _header(layout.iscsi_node, layout, "tgt")
    scsi_sn = layout.naa_id.removeprefix("naa.")[-16:]
    return head + f"IQN={layout.iqn}\nLUNFILE={layout.lun_file}\nSCSI_SN={scsi_sn}\n" + _COMMON + _ISCSI


def ganesha_conf(layout: Layout) -> str:
    """NFSv3+v4 over TCP, VFS FSAL, one export: the VMs' folder at /<datastore> (v3 path = v4 pseudo)."""
    node = layout.nfs_node
    return f"""# nfs-ganesha of node {node.name} (lab {layout.lab_id})
NFS_CORE_PARAM {{
    Bind_addr = {node.ip};
    Protocols = 3, 4;
    Mount_Path_Pseudo = true;
    MNT_Port = {NFS_PORTS["mountd"]};
    NLM_Port = {NFS_PORTS["nlm"]};
    Rquota_Port = {NFS_PORTS["rquota"]};
}}
NFSV4 {{
    RecoveryBackend = fs;
    Graceless = true;
}}
NFS_KRB5 {{ Active_krb5 = false; }}
EXPORT {{
    Export_Id = 1;
    Path = {layout.export_dir};
    Pseudo = {layout.nfs_export_path};
    Protocols = 3, 4;
    Transports = TCP;
    Access_Type = RW;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""


def nfs_recovery_dir(node: NodeSpec) -> Path:
    """Bound on /var/lib/nfs inside the NFS node: ganesha's v4 recovery state stays per lab."""
    return node.node_dir / "var-lib-nfs"


def write_script(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)


def target_pidfile(node: NodeSpec) -> Path:
    return node_dirs(node)["run"] / "target.pid"
