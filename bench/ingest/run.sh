#!/usr/bin/env bash
# Ingestion benchmark (issue 3): the 1,000,000-row Windows-1252 file of
# ../shared/bench/gen_incidentes.py, end to end, against peers in the same run:
#   - datalab: `datalab import` (copy into storage, decode, sniff, infer types
#     over every value, profile, validate, write typed Parquet);
#   - DuckDB 2.0: read_csv -> Parquet (Python package);
#   - sqlite-utils: insert --csv --detect-types after iconv to UTF-8 (the
#     Datasette route; slow, skipped unless WITH_SQLITE_UTILS=1).
# Wall time and peak RSS from /usr/bin/time. Not part of CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${BENCH_DIR:-/var/tmp/ingest-bench}
rows=${ROWS:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/datalab-target}
mkdir -p "$work"
file="$work/incidentes_$rows.csv"
[ -f "$file" ] || python3 ../shared/bench/gen_incidentes.py "$rows" "$file"
if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet -r bench/ingest/requirements.txt
fi
cargo build --release --locked -p datalab
measure() {  # label, command...
    local label=$1; shift
    /usr/bin/time -f "$label: %e s wall, peak RSS %M KB" "$@" > /dev/null
}
echo "file: $file ($(du -h "$file" | cut -f1)), $(nproc) cores, $(date -u)"
# The machine is noisy: datalab and DuckDB take turns, RUNS times (3 unless
# set), each datalab run into a fresh data folder, after a sync.
for run in $(seq "${RUNS:-3}"); do
    rm -rf "$work/data" "$work/duckdb.parquet"
    "$CARGO_TARGET_DIR/release/datalab" --data-dir "$work/data" demo > /dev/null 2>&1
    sync
    measure "run $run: datalab import (analysis and Parquet)" "$CARGO_TARGET_DIR/release/datalab" --data-dir "$work/data" import "$file" --dataset bench --org secretaria-de-economia --json
    sync
    measure "run $run: DuckDB read_csv -> Parquet" "$work/venv/bin/python" -c "
import duckdb
duckdb.sql(\"COPY (SELECT * FROM read_csv('$file', encoding='latin-1')) TO '$work/duckdb.parquet' (FORMAT PARQUET)\")"
done
if [ "${WITH_SQLITE_UTILS:-0}" = 1 ]; then
    rm -f "$work/sqlite.db"
    measure "sqlite-utils insert --csv --detect-types" bash -c "iconv -f cp1252 -t utf-8 '$file' | '$work/venv/bin/sqlite-utils' insert '$work/sqlite.db' incidentes - --csv --detect-types"
fi
