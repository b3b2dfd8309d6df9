-- The catalog: users, organizations, groups, datasets, resources, activity.
-- Portable SQL: ids are UUID text, timestamps RFC 3339 text in UTC with
-- microseconds (so text order is time order), booleans 0/1 integers.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    fullname TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL,
    about TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    sysadmin INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'active',
    created TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    last_used TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    expires TEXT NOT NULL
);

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_url TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'active',
    created TEXT NOT NULL
);

CREATE TABLE memberships (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    capacity TEXT NOT NULL,
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE catalog_groups (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    image_url TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'active',
    created TEXT NOT NULL
);

CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    owner_org TEXT NOT NULL REFERENCES organizations (id),
    license_id TEXT NOT NULL,
    author TEXT NOT NULL DEFAULT '',
    author_email TEXT NOT NULL DEFAULT '',
    maintainer TEXT NOT NULL DEFAULT '',
    maintainer_email TEXT NOT NULL DEFAULT '',
    url TEXT NOT NULL DEFAULT '',
    version TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    -- JSON: [[key, value], ...]
    extras TEXT NOT NULL DEFAULT '[]',
    -- JSON object of the DCAT fields (see datalab_core::DcatFields)
    dcat TEXT NOT NULL DEFAULT '{}',
    creator_user_id TEXT,
    metadata_created TEXT NOT NULL,
    metadata_modified TEXT NOT NULL
);
CREATE INDEX datasets_org ON datasets (owner_org);
CREATE INDEX datasets_modified ON datasets (metadata_modified);

CREATE TABLE dataset_tags (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (dataset_id, tag)
);
CREATE INDEX dataset_tags_tag ON dataset_tags (tag);

CREATE TABLE dataset_groups (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES catalog_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (dataset_id, group_id)
);
CREATE INDEX dataset_groups_group ON dataset_groups (group_id);

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL DEFAULT '',
    -- exactly one of url (a link) or storage_key (an upload) is set
    url TEXT NOT NULL DEFAULT '',
    storage_key TEXT,
    filename TEXT NOT NULL DEFAULT '',
    size INTEGER,
    mimetype TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    last_modified TEXT NOT NULL
);
CREATE INDEX resources_dataset ON resources (dataset_id, position);

CREATE TABLE activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    user_id TEXT,
    activity_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    object_name TEXT NOT NULL,
    organization_id TEXT,
    dataset_id TEXT,
    -- JSON: [{field, before, after}, ...]
    changes TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX activities_object ON activities (object_id, id);
CREATE INDEX activities_dataset ON activities (dataset_id, id);
CREATE INDEX activities_organization ON activities (organization_id, id);
CREATE INDEX activities_user ON activities (user_id, id);
