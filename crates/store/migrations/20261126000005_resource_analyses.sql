-- What ingestion learned about a resource's file (schema, profile, report),
-- for the file with this hash. Derived data: recomputed when the file changes.
CREATE TABLE resource_analyses (
    resource_id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    -- running, done or failed
    status TEXT NOT NULL,
    analysis TEXT,
    error TEXT NOT NULL DEFAULT '',
    updated TEXT NOT NULL
);
