-- One event log. Every change is recorded here, in the same transaction
-- as the change: the catalog's activity (stream 'catalog'), the tracker's
-- milestone timeline (stream 'tracker'), and facts that are not public
-- history but that others follow, such as a finished analysis (stream
-- 'system'). The activity streams and the timeline read it through the
-- views below, under their old names; the search index and the tracker's
-- catalog copy follow it from a cursor each (event_cursors).
--
-- The activities keep their ids; the milestone events are copied after
-- them, in their order, with new ids.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    user_id TEXT,
    stream TEXT NOT NULL,
    -- catalog: the activity type ('new package', 'changed organization'…);
    -- tracker: the milestone's field; system: what happened.
    kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    subject_name TEXT NOT NULL DEFAULT '',
    organization_id TEXT,
    dataset_id TEXT,
    milestone_id TEXT,
    -- catalog: JSON [{field, before, after}, ...]
    changes TEXT NOT NULL DEFAULT '[]',
    -- tracker: the field's values as JSON, and the note
    field TEXT NOT NULL DEFAULT '',
    before_value TEXT NOT NULL DEFAULT 'null',
    after_value TEXT NOT NULL DEFAULT 'null',
    note TEXT NOT NULL DEFAULT ''
);
INSERT INTO events (id, at, user_id, stream, kind, subject_id, subject_name, organization_id, dataset_id, changes)
SELECT id, timestamp, user_id, 'catalog', activity_type, object_id, object_name, organization_id, dataset_id, changes
FROM activities ORDER BY id;
INSERT INTO events (at, user_id, stream, kind, subject_id, milestone_id, field, before_value, after_value, note)
SELECT at, user_id, 'tracker', field, milestone_id, milestone_id, field, before_value, after_value, note
FROM milestone_events ORDER BY id;
DROP TABLE activities;
DROP TABLE milestone_events;
CREATE INDEX events_stream ON events (stream, id);
CREATE INDEX events_subject ON events (subject_id, id);
CREATE INDEX events_dataset ON events (dataset_id, id);
CREATE INDEX events_organization ON events (organization_id, id);
CREATE INDEX events_user ON events (user_id, id);
CREATE INDEX events_milestone ON events (milestone_id, id);

CREATE VIEW activities AS
SELECT id, at AS timestamp, user_id, kind AS activity_type, subject_id AS object_id, subject_name AS object_name,
       organization_id, dataset_id, changes
FROM events WHERE stream = 'catalog';

CREATE VIEW milestone_events AS
SELECT id, milestone_id, at, user_id, field, before_value, after_value, note
FROM events WHERE stream = 'tracker';

-- How far each follower of the log has read. What was recorded before
-- the log existed is already reflected in the index and the copies.
CREATE TABLE event_cursors (
    subscriber TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);
INSERT INTO event_cursors (subscriber, position) SELECT 'search', COALESCE(MAX(id), 0) FROM events;
INSERT INTO event_cursors (subscriber, position) SELECT 'tracker-copy', COALESCE(MAX(id), 0) FROM events;
