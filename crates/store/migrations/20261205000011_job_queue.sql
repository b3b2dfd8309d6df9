-- One queue for every kind of background work. The ingestion jobs become
-- its first kind, `analyse-resource`; their rows are copied, history kept.
-- A job has a kind and a JSON payload; `dedup_key` keeps a second queued
-- job of the same kind and key from being added; `run_at` delays a retry;
-- a worker that claims a job holds it until `lease_until` and renews the
-- lease as it writes progress, so a job whose worker died (its lease ran
-- out) is taken again by another worker or the next start.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    dedup_key TEXT,
    -- The resource a job works on, if any: its jobs go with it.
    resource_id TEXT REFERENCES resources (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL DEFAULT '',
    -- queued, running, done or failed
    status TEXT NOT NULL,
    run_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until TEXT,
    worker TEXT NOT NULL DEFAULT '',
    bytes_total INTEGER,
    bytes_read INTEGER NOT NULL DEFAULT 0,
    rows_read INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    error_es TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
INSERT INTO jobs (id, kind, payload, dedup_key, resource_id, sha256, status, run_at, attempts,
                  bytes_total, bytes_read, rows_read, error, error_es, created, updated)
SELECT id, 'analyse-resource',
       '{"resource_id":"' || resource_id || '","sha256":"' || sha256 || '"}',
       resource_id || ':' || sha256, resource_id, sha256, status, updated, attempts,
       bytes_total, bytes_read, rows_read, error, error_es, created, updated
FROM ingest_jobs;
DROP TABLE ingest_jobs;
CREATE INDEX jobs_resource ON jobs (resource_id, created);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE INDEX jobs_dedup ON jobs (kind, dedup_key, status);
