-- Monitors (civil society, independent reviewers) of a commitment, and their
-- flags on evidence they find insufficient. Flags are never removed.

CREATE TABLE commitment_monitors (
    commitment_id TEXT NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added TEXT NOT NULL,
    PRIMARY KEY (commitment_id, user_id)
);

CREATE TABLE evidence_flags (
    id TEXT PRIMARY KEY,
    evidence_id TEXT NOT NULL REFERENCES milestone_evidence (id) ON DELETE CASCADE,
    user_id TEXT,
    reason TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX evidence_flags_evidence ON evidence_flags (evidence_id, at);
