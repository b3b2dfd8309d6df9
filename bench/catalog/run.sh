#!/usr/bin/env bash
# Catalog benchmark (issue 2): a 100,000-dataset catalog; package_search latency
# over a mix of queries with facets, dataset page throughput, and server RSS.
# The peer, in the same run on the same machine: Datasette over the same
# catalog in SQLite with FTS5 and facets (the Datasette route to a searchable
# catalog). Not part of CI.
#
# usage: bench/catalog/run.sh            (DATASETS=100000 BENCH_DIR=/var/tmp/datalab-bench-catalog)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
datasets=${DATASETS:-100000}
work=${BENCH_DIR:-/var/tmp/datalab-bench-catalog}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/datalab-target}
mkdir -p "$work"

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
if [ ! -x "$work/venv/bin/datasette" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet -r bench/catalog/requirements.txt
fi
cargo build --release --locked -p datalab -p datalab-bench
bin="$CARGO_TARGET_DIR/release"

if [ ! -f "$work/ready-$datasets" ]; then
    rm -rf "$work/data" "$work/catalog.jsonl" "$work/peer.db"
    echo "generating $datasets datasets"
    /usr/bin/time -f "generate: %e s, peak RSS %M KB" "$bin/gen-catalog" --data-dir "$work/data" --datasets "$datasets" --jsonl "$work/catalog.jsonl"
    "$work/venv/bin/sqlite-utils" insert "$work/peer.db" datasets "$work/catalog.jsonl" --nl --pk id
    "$work/venv/bin/sqlite-utils" enable-fts "$work/peer.db" datasets title notes tags --fts5 --create-triggers
    "$work/venv/bin/sqlite-utils" create-index "$work/peer.db" datasets name --unique
    for column in organization license_id groups private; do "$work/venv/bin/sqlite-utils" create-index "$work/peer.db" datasets "$column"; done
    touch "$work/ready-$datasets"
fi

start_datalab() {  # extra flags
    "$bin/datalab" --data-dir "$work/data" "$@" serve --bind 127.0.0.1:18080 > "$work/datalab.log" 2>&1 &
    datalab_pid=$!
    for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:18080/healthz" >/dev/null && return; sleep 0.5; done
    echo "datalab did not start" >&2; exit 1
}
stop_datalab() { kill "$datalab_pid"; wait "$datalab_pid" 2>/dev/null || true; }

"$work/venv/bin/datasette" serve "$work/peer.db" --port 18081 --setting default_page_size 10 --setting sql_time_limit_ms 10000 --setting facet_time_limit_ms 10000 > "$work/datasette.log" 2>&1 &
datasette_pid=$!
trap 'kill ${datalab_pid:-} $datasette_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:18081/" >/dev/null && break; sleep 0.3; done
name=$(head -1 "$work/catalog.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["name"])')
id=$(head -1 "$work/catalog.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

run() {  # label, lua script, url, threads, connections
    echo "== $1"
    wrk -t"$4" -c"$5" -d"${DURATION:-20}s" --latency -s "$2" "$3" | grep -E 'Requests/sec|50%|90%|99%|Non-2xx|Socket errors'
}
echo "catalog: $datasets datasets; machine: $(nproc) cores; $(date -u)"

start_datalab --search-cache-entries 0
run "datalab package_search mix, no result cache, 1 connection (latency)" bench/catalog/datalab_search.lua http://127.0.0.1:18080 1 1
run "datalab package_search mix, no result cache, 16 connections" bench/catalog/datalab_search.lua http://127.0.0.1:18080 2 16
stop_datalab
start_datalab
run "datalab package_search mix, default result cache, 1 connection (latency)" bench/catalog/datalab_search.lua http://127.0.0.1:18080 1 1
run "datalab package_search mix, default result cache, 16 connections" bench/catalog/datalab_search.lua http://127.0.0.1:18080 2 16
run "datasette search+facets mix, 1 connection (latency)" bench/catalog/datasette_search.lua http://127.0.0.1:18081 1 1
run "datasette search+facets mix, 16 connections" bench/catalog/datasette_search.lua http://127.0.0.1:18081 2 16
echo "wrk.path = '/dataset/$name'" > "$work/datalab_page.lua"
echo "wrk.path = '/peer/datasets/$id'" > "$work/datasette_page.lua"
run "datalab dataset page, 32 connections" "$work/datalab_page.lua" http://127.0.0.1:18080 2 32
run "datasette row page, 32 connections" "$work/datasette_page.lua" http://127.0.0.1:18081 2 32
echo "== peak RSS"
echo "datalab:   $(grep VmHWM /proc/$datalab_pid/status | awk '{print $2/1024 " MB"}')"
echo "datasette: $(grep VmHWM /proc/$datasette_pid/status | awk '{print $2/1024 " MB"}')"
