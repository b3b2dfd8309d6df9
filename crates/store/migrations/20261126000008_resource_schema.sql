-- The publisher's Table Schema for a resource's file (types, titles,
-- missing values, constraints), applied when the file is ingested. NULL:
-- everything is inferred.
ALTER TABLE resources ADD COLUMN schema TEXT;
