-- Why an analysis failed, in Spanish beside the English `error`: pages show
-- the reader's language, the APIs keep the English text.
ALTER TABLE resource_analyses ADD COLUMN error_es TEXT NOT NULL DEFAULT '';
ALTER TABLE ingest_jobs ADD COLUMN error_es TEXT NOT NULL DEFAULT '';
