#!/usr/bin/env bash
# Data API benchmark (issue 4), on the 1,000,000-row file of
# ../shared/bench/gen_incidentes.py ingested by `datalab import` (Parquet).
# Peers in the same run: DuckDB 2.0 over the very same Parquet file (Python
# package, in process), and SQLite through sqlite-utils / Datasette over the
# same rows.
#   (a) a filtered, sorted page of 100 rows: datastore_search vs Datasette's
#       table JSON, 50 concurrent connections (wrk), p50/p99 and errors;
#   (b) count and sum of monto_danios by municipio and year: datastore_search_sql
#       over HTTP vs DuckDB and SQLite in process (median of 7 runs);
#   (c) a full CSV export: /api/v1/resources/{id}/rows.csv vs DuckDB COPY TO
#       CSV and sqlite3 -csv; MB/s and the server's peak RSS.
# Not part of CI. Needs wrk and sqlite3 (installed from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${BENCH_DIR:-/var/tmp/query-bench}
rows=${ROWS:-1000000}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/var/tmp/datalab-target}
mkdir -p "$work"
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }
file="$work/incidentes_$rows.csv"
[ -f "$file" ] || python3 ../shared/bench/gen_incidentes.py "$rows" "$file"
if [ ! -x "$work/venv/bin/python" ]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install --quiet -r bench/query/requirements.txt
fi
py="$work/venv/bin/python"
cargo build --release --locked -p datalab
bin="$CARGO_TARGET_DIR/release/datalab"
echo "file: $file ($(du -h "$file" | cut -f1)), $(nproc) cores, $(date -u)"

# Ingest once (datalab) and load SQLite once (the slow Datasette route).
if [ ! -f "$work/resource_id" ]; then
    rm -rf "$work/data"
    "$bin" --data-dir "$work/data" demo > /dev/null 2>&1
    "$bin" --data-dir "$work/data" import "$file" --dataset bench --org secretaria-de-economia --json > "$work/import.json"
    "$py" -c "import json,sys; print(json.load(open('$work/import.json'))['resource_id'])" > "$work/resource_id"
fi
resource=$(cat "$work/resource_id")
parquet=$(ls "$work/data/tables/$resource"/*.parquet)
if [ ! -f "$work/sqlite.db" ]; then
    iconv -f cp1252 -t utf-8 "$file" | "$work/venv/bin/sqlite-utils" insert "$work/sqlite.db.tmp" incidentes - --csv --detect-types
    mv "$work/sqlite.db.tmp" "$work/sqlite.db"
fi
echo "resource $resource, Parquet $(du -h "$parquet" | cut -f1), SQLite $(du -h "$work/sqlite.db" | cut -f1)"

"$bin" --data-dir "$work/data" serve --bind 127.0.0.1:18090 > "$work/datalab.log" 2>&1 &
server=$!
# The same server without the result cache, to measure the queries themselves.
rm -rf "$work/data-nocache" && cp -r "$work/data" "$work/data-nocache"  # its own search index lock
"$bin" --data-dir "$work/data-nocache" serve --bind 127.0.0.1:18092 --query-cache-entries 0 > "$work/datalab-nocache.log" 2>&1 &
nocache=$!
"$work/venv/bin/datasette" serve "$work/sqlite.db" --port 18091 --setting sql_time_limit_ms 60000 \
    --setting max_returned_rows 1000 > "$work/datasette.log" 2>&1 &
peer=$!
trap 'kill $server $nocache $peer 2>/dev/null' EXIT
for _ in $(seq 100); do
    curl -sf http://127.0.0.1:18090/api/3/action/status_show > /dev/null && curl -sf http://127.0.0.1:18092/api/3/action/status_show > /dev/null \
        && curl -sf http://127.0.0.1:18091/-/versions.json > /dev/null && break
    sleep 0.3
done

# Waits until a process has used less than a tenth of a core for a second:
# a wrk run leaves requests in flight that the server still works on, and
# the next measurement must not share the machine with them.
wait_idle() {  # pid
    local ticks before after
    for _ in $(seq 60); do
        before=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)
        sleep 1
        after=$(awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0)
        ticks=$((after - before))
        [ "$ticks" -lt 10 ] && return 0
    done
}

echo; echo "== (a) filtered, sorted page of 100 rows, 50 connections, ${DURATION:-20} s"
# datalab is measured twice: from a cold start (the first requests compute
# while the others wait for them), then warm (every answer cached).
for target in datalab datalab-warm datalab-nocache datasette; do
    wait_idle $server; wait_idle $nocache; wait_idle $peer
    port=18090; [ $target = datasette ] && port=18091; [ $target = datalab-nocache ] && port=18092
    kind=${target%-nocache}; kind=${kind%-warm}
    printf 'TARGET = "%s"\nRESOURCE = "%s"\n' "$kind" "$resource" > "$work/$target.lua"
    cat bench/query/search.lua >> "$work/$target.lua"
    echo "-- $target"
    wrk -t2 -c50 -d"${DURATION:-20}s" --timeout 30s --latency -s "$work/$target.lua" "http://127.0.0.1:$port" \
        | grep -E 'Latency |Requests/sec|50%|90%|99%|Non-2xx|Socket errors' || true
done
wait_idle $server; wait_idle $nocache; wait_idle $peer

echo; echo "== (b) count and sum of monto_danios by municipio and year (median of 7)"
sql="SELECT municipio, date_part('year', fecha) AS anio, count(*) AS n, sum(monto_danios) AS total FROM \"$resource\" GROUP BY municipio, anio ORDER BY municipio, anio"
"$py" - "$sql" "$parquet" "$work/sqlite.db" <<'PY'
import json, sqlite3, statistics, sys, time, urllib.parse, urllib.request
import duckdb
sql, parquet, sqlite_path = sys.argv[1], sys.argv[2], sys.argv[3]
def median(run, n=7):
    times = []
    for _ in range(n):
        start = time.perf_counter(); rows = run(); times.append(time.perf_counter() - start)
    return statistics.median(times), rows
def datalab():
    url = "http://127.0.0.1:18092/api/3/action/datastore_search_sql?" + urllib.parse.urlencode({"sql": sql})
    return len(json.load(urllib.request.urlopen(url))["result"]["records"])
con = duckdb.connect()
duck_sql = f"SELECT municipio, year(fecha) AS anio, count(*) AS n, sum(monto_danios) AS total FROM read_parquet('{parquet}') GROUP BY municipio, anio ORDER BY municipio, anio"
lite = sqlite3.connect(sqlite_path)
lite_sql = "SELECT municipio, substr(fecha, 7, 4) AS anio, count(*) AS n, sum(monto_danios) AS total FROM incidentes GROUP BY municipio, anio ORDER BY municipio, anio"
results = {
    "datalab datastore_search_sql (HTTP)": median(datalab),
    "DuckDB over the same Parquet (in process)": median(lambda: len(con.sql(duck_sql).fetchall())),
    "SQLite (in process)": median(lambda: len(lite.execute(lite_sql).fetchall()), 3),
}
for name, (seconds, rows) in results.items():
    print(f"{name}: {seconds * 1000:.1f} ms, {rows} groups")
PY

echo; echo "== (c) full CSV export"
before=$(grep VmHWM /proc/$server/status | awk '{print $2}')
curl -s -o "$work/export.csv" -w 'datalab rows.csv: %{size_download} bytes in %{time_total} s\n' "http://127.0.0.1:18090/api/v1/resources/$resource/rows.csv"
after=$(grep VmHWM /proc/$server/status | awk '{print $2}')
echo "datalab server peak RSS: before the export ${before} KB, after ${after} KB"
"$py" - "$parquet" "$work" <<'PY'
import subprocess, sys, time, os
import duckdb
parquet, work = sys.argv[1], sys.argv[2]
start = time.perf_counter()
duckdb.sql(f"COPY (SELECT * FROM read_parquet('{parquet}') WHERE false = false) TO '{work}/duckdb.csv' (HEADER)")
seconds = time.perf_counter() - start
print(f"DuckDB COPY TO CSV: {os.path.getsize(work + '/duckdb.csv')} bytes in {seconds:.2f} s")
start = time.perf_counter()
with open(work + "/sqlite.csv", "wb") as out:
    subprocess.run(["sqlite3", "-csv", "-header", work + "/sqlite.db", "SELECT * FROM incidentes"], stdout=out, check=True)
seconds = time.perf_counter() - start
print(f"sqlite3 -csv: {os.path.getsize(work + '/sqlite.csv')} bytes in {seconds:.2f} s")
PY
