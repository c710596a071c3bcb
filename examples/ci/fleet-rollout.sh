#!/usr/bin/env bash
# A fleet-wide change (a new delegate version, base image or role for every group) rolled out
# in waves, inside the agreed change windows. The groups name their wave in their files:
#
#   spec:
#     rollout: {wave: 0}     # canaries: one small group per account
#   ---
#   spec:
#     rollout: {wave: 1}     # the rest
#
# and counts that autoscaling owns are ranges (`count: {min: 1, max: 4, cpu: 60}`; see
# examples/fargate-awsvpc.yaml), so the rollout never fights it.
#
#   examples/ci/fleet-rollout.sh delegates/
set -euo pipefail
dir=${1:?usage: fleet-rollout.sh DIR}

# Outside weekday office hours, or in the Friday-evening freeze, nothing is written: the plan
# says "held by window ... writes resume at T", and --wait waits (at most its limit) for the
# window to open; the loop, or the next run, applies a change still held.
windows=(
  --window 'allow 0 8 * * 1-5 9h Europe/Berlin'
  --window 'deny 0 16 * * 5 8h Europe/Berlin'
)

ecs-delegate-controller validate "$dir"
ecs-delegate-controller plan "$dir" "${windows[@]}" --wave-bake 10m

# Walks the waves: wave 0, then (each group of it Ready and connected for 10 minutes) wave 1.
# A rolled-back group halts the later waves and fails the step; fix it and commit to resume.
ecs-delegate-controller reconcile --once --wait 60m "$dir" "${windows[@]}" \
  --wave-bake 10m --wave-failure halt
