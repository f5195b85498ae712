#!/usr/bin/env bash
# `make demo`: the main job. Start the embedded lab (NFS/iSCSI targets, a simulated ESXi host, the simulated
# vCenter), run the nfs-apd-bsod scenario (KB 392634) on it end to end, print its timeline, verdict and the
# path of its HTML report, and take the lab down again, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/.."
faultlab=.venv/bin/faultlab
scenario=${FAULTLAB_DEMO_SCENARIO:-scenarios/nfs-apd-bsod.yaml}
artifacts=${FAULTLAB_ARTIFACTS:-artifacts}

up_out=$(mktemp)
trap 'rm -f "$up_out"' EXIT
if ! "$faultlab" lab up --hosts 1 --vms 1 >"$up_out"; then
  cat "$up_out"
  exit 3
fi
cat "$up_out"
lab_id=$(awk '/^lab .* up /{print $2; exit}' "$up_out")
if [[ -z "$lab_id" ]]; then
  echo "demo: could not read the lab id from 'faultlab lab up'" >&2
  exit 3
fi
trap 'rm -f "$up_out"; echo "== faultlab lab down $lab_id"; "$faultlab" lab down "$lab_id"' EXIT

echo "== faultlab run $scenario --lab $lab_id"
set +e
"$faultlab" run "$scenario" --lab "$lab_id" --artifacts "$artifacts"
status=$?
set -e
exit $status
