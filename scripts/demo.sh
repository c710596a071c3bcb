#!/usr/bin/env bash
# make demo: start a local ECS endpoint, reconcile examples/ into it, show the result, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${MOTO_VENV:-.venv}
BIN=${BIN:-target/debug/ecs-delegate-controller}
WORK=.demo
rm -rf "$WORK" && mkdir -p "$WORK/groups"

. scripts/steps.sh

step "Starting the local ECS endpoint (moto, pinned, with ECS's behaviour: scripts/ecs_behaviour.py)"
URL=$("$VENV/bin/python" scripts/localecs.py start "$WORK")
trap '"$VENV/bin/python" scripts/localecs.py stop "$WORK"' EXIT
echo "  $URL"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=$URL AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

step "Creating what the examples refer to: clusters, roles, the token secret"
"$VENV/bin/python" scripts/localecs.py demo-setup "$URL"

# The FARGATE example names placeholder subnets; the local endpoint checks them against its own
# default VPC, so the demo copies the examples with that VPC's subnet and security group.
read -r SUBNET GROUP < <("$VENV/bin/python" scripts/localecs.py network "$URL")
read -r OTHER_SUBNET OTHER_GROUP < <("$VENV/bin/python" scripts/localecs.py other-network "$URL")
for f in examples/*.yaml; do
  sed -e "s/subnet-0a1b2c3d/$SUBNET/" -e "s/sg-0a1b2c3d/$GROUP/" \
      -e "s/subnet-0f1e2d3c/$OTHER_SUBNET/" -e "s/sg-0f1e2d3c/$OTHER_GROUP/" \
      "$f" > "$WORK/groups/$(basename "$f")"
done
echo "  examples copied to $WORK/groups (subnet $SUBNET, security group $GROUP; in account 111122223333: $OTHER_SUBNET, $OTHER_GROUP)"

step "Validate: no AWS call"
run "$BIN" validate "$WORK/groups"

step "Plan: what would change"
run "$BIN" plan "$WORK/groups"

step "Reconcile once, and wait until the delegates run (the endpoint starts tasks after 1 s)"
run "$BIN" reconcile --once --wait 60s "$WORK/groups"

step "Plan again: nothing left to do"
run "$BIN" plan --detailed-exitcode "$WORK/groups"

step "What runs in the local ECS now"
"$VENV/bin/python" scripts/localecs.py summary "$URL"

step "Status"
run "$BIN" status "$WORK/groups"

if [ -n "${DEMO_SCREENSHOT:-}" ]; then
  # The README's picture of the demo fleet: the loop, its page, one screenshot, stop.
  PORT=${DEMO_PORT:-9464}
  "$BIN" reconcile "$WORK/groups" --listen "127.0.0.1:$PORT" 2>/dev/null &
  LOOP=$!
  for _ in $(seq 1 100); do
    "$BIN" probe "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$VENV/bin/python" tests/browser/shot.py "http://127.0.0.1:$PORT/" "$DEMO_SCREENSHOT"
  kill -TERM $LOOP && wait $LOOP
  echo "  screenshot: $DEMO_SCREENSHOT"
elif [ -t 0 ] && [ -t 1 ]; then
  # On a terminal: the loop, with its status page, until Ctrl-C.
  PORT=${DEMO_PORT:-9464}
  step "The loop, with the status page at http://127.0.0.1:$PORT/ (Ctrl-C stops it and the endpoint)"
  "$BIN" reconcile "$WORK/groups" --listen "127.0.0.1:$PORT" &
  LOOP=$!
  trap 'kill -TERM $LOOP 2>/dev/null; wait $LOOP 2>/dev/null; "$VENV/bin/python" scripts/localecs.py stop "$WORK"' EXIT
  trap 'echo; echo "  stopping"; exit 0' INT TERM
  for _ in $(seq 1 100); do
    "$BIN" probe "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "  open http://127.0.0.1:$PORT/ (JSON: /status, metrics: /metrics); Ctrl-C to stop"
  wait $LOOP
else
  step "Done; stopping the local endpoint"
fi
