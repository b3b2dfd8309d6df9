-- The key of the Parquet table an analysis wrote, in its own column, so the
-- data API finds a resource's table without reading the whole analysis.
-- Rows written before this migration keep it NULL; readers then fall back
-- to the analysis JSON (`parquet.key`).
ALTER TABLE resource_analyses ADD COLUMN table_key TEXT;
