-- Accountability: commitments of an action plan, their milestones, evidence
-- and the permanent timeline of every change. Texts that exist in Spanish and
-- English are JSON objects {"es": ..., "en": ...}.

CREATE TABLE commitments (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    -- JSON: the action plan (code, title, start, end)
    action_plan TEXT NOT NULL,
    -- JSON: title, problem, status_quo, action, contribution, policy_area, sector, ogp_values
    content TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    created TEXT NOT NULL
);

CREATE TABLE commitment_institutions (
    commitment_id TEXT NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    organization_id TEXT REFERENCES organizations (id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    PRIMARY KEY (commitment_id, position)
);

CREATE TABLE milestones (
    id TEXT PRIMARY KEY,
    commitment_id TEXT NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    number INTEGER NOT NULL,
    parent_id TEXT REFERENCES milestones (id),
    weight REAL NOT NULL DEFAULT 1,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    status TEXT NOT NULL,
    progress INTEGER NOT NULL DEFAULT 0,
    blocker_reason TEXT NOT NULL DEFAULT '',
    blocker_owner TEXT NOT NULL DEFAULT '',
    modified TEXT NOT NULL,
    UNIQUE (commitment_id, number)
);

CREATE TABLE milestone_organizations (
    milestone_id TEXT NOT NULL REFERENCES milestones (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL REFERENCES organizations (id),
    PRIMARY KEY (milestone_id, organization_id)
);

CREATE TABLE milestone_evidence (
    id TEXT PRIMARY KEY,
    milestone_id TEXT NOT NULL REFERENCES milestones (id) ON DELETE CASCADE,
    -- JSON: datalab_core::accountability::EvidenceTarget
    target TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    added_by TEXT,
    added_at TEXT NOT NULL
);
CREATE INDEX milestone_evidence_milestone ON milestone_evidence (milestone_id, added_at);

-- Append-only: corrections are new rows, never updates.
CREATE TABLE milestone_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    milestone_id TEXT NOT NULL REFERENCES milestones (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    user_id TEXT,
    field TEXT NOT NULL,
    before_value TEXT NOT NULL,
    after_value TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX milestone_events_milestone ON milestone_events (milestone_id, id);
