#!/usr/bin/env bash
# pulumi "$@", tried again while another update holds the stack's lock, for at most PULUMI_LOCK_WAIT
# seconds (default 900; PULUMI_LOCK_POLL between tries, default 15).
#
# The engine refuses an update whose stack is locked before it changes anything ("the stack is
# currently locked by N lock(s)"), so trying again is safe. On a self-managed backend a preview
# takes no lock (tests/engine/test_s3_releases.py), so a pull-request preview never makes a deploy
# wait and a cancelled preview leaves no lock behind; what a deploy waits for here is another
# update of the same stack: a rollback, or someone's `pulumi up` from a laptop.
#
#   bash scripts/pulumi-wait-lock.sh up --stack staging --yes --non-interactive
set -uo pipefail
wait_seconds=${PULUMI_LOCK_WAIT:-900}
poll=${PULUMI_LOCK_POLL:-15}
deadline=$((SECONDS + wait_seconds))
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while :; do
  pulumi "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  if ((status != 0)) && grep -q "the stack is currently locked" "$log" && ((SECONDS < deadline)); then
    echo "pulumi-wait-lock: the stack is locked by another update; trying again in ${poll}s ($((deadline - SECONDS))s left)" >&2
    sleep "$poll"
    continue
  fi
  if ((status != 0)) && grep -q "the stack is currently locked" "$log"; then
    echo "pulumi-wait-lock: the stack stayed locked for ${wait_seconds}s; giving up (a lock a killed run left: \`pulumi cancel\`, once sure no update runs: it removes every lock of the stack)" >&2
  fi
  exit "$status"
done
