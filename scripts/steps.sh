# Headings and echoed commands of scripts/demo.sh. Bold on a terminal only, and never with
# NO_COLOR set (https://no-color.org): files and pipes get plain text.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
step() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
run() { printf '$ %s\n' "$*"; "$@"; }
