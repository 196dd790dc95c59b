#!/usr/bin/env bash
# W3's start-up and cancellation measured apart, in instructions per child service, for
# both sides: callgrind counts each phase alone (`--toggle-collect`, see
# benches/overhead/phases.rs) over 1 tree and over 3, and the difference is divided by the
# 2 × 1,111 services of the extra trees (which removes the runtime's and the process's
# start-up). Instruction counts do not depend on the machine's load. Not run by CI; run it
# by hand (a minute or two):
#
#     scripts/phases.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$(cargo bench -p service-benches --bench overhead --no-run --locked --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*overhead[^"]*\)".*/\1/p' | tail -n 1)
[ -x "$bin" ] || { echo "could not build the overhead bench" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# count <kind> <phase> <trees>: instructions callgrind counts inside that phase's function.
count() {
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect="overhead::phases::phase_$2" \
        --callgrind-out-file="$work/out" "$bin" --phases "$1" "$3" >/dev/null 2>"$work/log" \
        || { cat "$work/log" >&2; exit 1; }
    sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$work/out" | head -n 1
}

# Three trees: the plain side's (`TaskTracker`, which drops its tasks' panics), the plain
# side's written to lose no panic (`JoinSet`, as the runtime guarantees; not in the timed
# runs), and the runtime's. Each ratio is the runtime's count over that column's.
printf '%-8s %12s %14s %16s %8s %8s\n' phase "plain tokio" "tokio JoinSet" "service-runtime" ratio "ratio JS"
for phase in start cancel; do
    per=()
    for kind in tokio tokio-joinset runtime; do
        one=$(count "$kind" "$phase" 1)
        three=$(count "$kind" "$phase" 3)
        per+=($(( (three - one) / 2222 )))
    done
    ratio=$(awk -v a="${per[0]}" -v b="${per[2]}" 'BEGIN { printf "%.2f", b / a }')
    joined=$(awk -v a="${per[1]}" -v b="${per[2]}" 'BEGIN { printf "%.2f", b / a }')
    printf '%-8s %12s %14s %16s %7s× %7s×\n' "$phase" "${per[0]}" "${per[1]}" "${per[2]}" "$ratio" "$joined"
done
