#!/usr/bin/env bash
# Alternating A/B runs of `datalab import` on the ingest benchmark's file, for
# builds whose difference is smaller than this machine's hour-to-hour noise:
#   bench/ingest/ab.sh RUNS BINARY_A BINARY_B [...]
# Each run imports into a fresh data folder (demo content first, as the bench
# script does); prints each binary's median and minimum wall and CPU time
# (user plus system), which moves less than wall time. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=$1; shift
work=${BENCH_DIR:-/var/tmp/ingest-bench}
file="$work/incidentes_${ROWS:-1000000}.csv"
[ -f "$file" ] || python3 ../shared/bench/gen_incidentes.py "${ROWS:-1000000}" "$file"
out=$(mktemp)
data=$(mktemp -d)
trap 'rm -rf "$out" "$data"' EXIT
for _ in $(seq "$runs"); do
    for binary in "$@"; do
        rm -rf "$data/run"
        "$binary" --data-dir "$data/run" demo > /dev/null 2>&1
        sync
        /usr/bin/time -f "$binary %e %U %S" -a -o "$out" \
            "$binary" --data-dir "$data/run" import "$file" --dataset bench --org secretaria-de-economia --json > /dev/null
    done
done
python3 - "$out" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    binary, wall, user, system = line.split()
    runs[binary].append((float(wall), float(user) + float(system)))
for binary, times in runs.items():
    walls, cpus = [t[0] for t in times], [t[1] for t in times]
    print(f"{binary}: wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}), "
          f"CPU median {statistics.median(cpus):.2f} s (min {min(cpus):.2f}), {len(times)} runs")
PY
