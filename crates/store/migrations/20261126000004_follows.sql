-- People following a commitment: they see its latest changes on their page.
CREATE TABLE commitment_followers (
    commitment_id TEXT NOT NULL REFERENCES commitments (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    since TEXT NOT NULL,
    PRIMARY KEY (commitment_id, user_id)
);
CREATE INDEX commitment_followers_user ON commitment_followers (user_id);
