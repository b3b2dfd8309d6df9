-- Ingestion jobs: one per analysis of a resource's file (a new upload, a
-- schema change, a re-analysis asked for). Progress is written while the job
-- runs; a job found `running` at start-up was interrupted and is retried, up
-- to a limit. The analysis a job produces is published in resource_analyses
-- only when it is complete, so the previous one is served meanwhile.
CREATE TABLE ingest_jobs (
    id TEXT PRIMARY KEY,
    resource_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    -- queued, running, done or failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER,
    bytes_read INTEGER NOT NULL DEFAULT 0,
    rows_read INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX ingest_jobs_resource ON ingest_jobs (resource_id, created);
CREATE INDEX ingest_jobs_status ON ingest_jobs (status);
