#!/usr/bin/env bash
# A pipeline step for any CI system: validate, plan, reconcile once, wait until Ready.
# Needs the ecs-delegate-controller binary on PATH and AWS credentials in the environment.
#
#   examples/ci/pipeline-step.sh delegates/
set -euo pipefail
dir=${1:?usage: pipeline-step.sh DIR}

# 1. Refuse bad files before touching AWS (exit 1 with file:line:col errors).
ecs-delegate-controller validate "$dir"

# 2. Show the plan; 0 = nothing to do, 2 = changes, 1 = error.
set +e
ecs-delegate-controller plan "$dir" --prune --detailed-exitcode
code=$?
set -e
case $code in
  0) echo "Nothing to change."; exit 0 ;;
  2) echo "Applying the plan above." ;;
  *) echo "plan failed" >&2; exit "$code" ;;
esac

# 3. Converge and wait: exit 1 on a failed rollout, a stalled group, or after 10 minutes,
#    naming each group that is not ready and why.
ecs-delegate-controller reconcile --once --prune --wait 10m "$dir"
