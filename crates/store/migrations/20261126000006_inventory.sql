-- The data inventory: what each organization holds or should hold.
CREATE TABLE inventory_items (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    expected TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    dataset_id TEXT REFERENCES datasets (id) ON DELETE SET NULL,
    updated TEXT NOT NULL
);
CREATE INDEX inventory_items_organization ON inventory_items (organization_id, title);
