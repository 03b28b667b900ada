-- Field sync (handhelds): a change feed for pulls, the events pushed from devices, what the
-- field recorded (notes, time, material, signatures), and attachments stored as files.

-- One change sequence per tenant. A transaction that changes orders takes the next value
-- when it commits (the row lock orders commits by sequence on PostgreSQL; SQLite has one
-- writer), so a puller that has seen sequence N never later finds a committed change <= N.
CREATE TABLE sync_counters (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    last_seq  INTEGER NOT NULL
) STRICT;

-- The latest change of each order (older ones are superseded: a pull returns current state).
CREATE TABLE sync_feed (
    work_order_id TEXT PRIMARY KEY REFERENCES work_orders (id),
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    seq           INTEGER NOT NULL
) STRICT;
CREATE INDEX sync_feed_seq_idx ON sync_feed (tenant_id, seq, work_order_id);

INSERT INTO sync_counters (tenant_id, last_seq) SELECT id, 1 FROM tenants;
INSERT INTO sync_feed (work_order_id, tenant_id, seq) SELECT id, tenant_id, 1 FROM work_orders;

-- "Which orders concern me" for pulls.
CREATE INDEX work_order_participants_user_idx ON work_order_participants (user_id, work_order_id);

-- Every event a device pushed, applied or rejected: the id makes a push exactly-once.
CREATE TABLE sync_events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    user_id       TEXT NOT NULL REFERENCES users (id),
    device_id     TEXT NOT NULL,
    device_seq    INTEGER NOT NULL,
    work_order_id TEXT NOT NULL,
    type          TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    reason        TEXT,
    received_at   TEXT NOT NULL
) STRICT;
-- Held (row lock) by a push until it commits, so two pushes of one person are applied one
-- after the other and an event id is claimed once.
CREATE TABLE sync_pushers (
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    user_id        TEXT NOT NULL REFERENCES users (id),
    last_push_at   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) STRICT;
CREATE INDEX sync_events_device_idx ON sync_events (tenant_id, user_id, device_id, device_seq);

-- Notes, time, material and signatures recorded in the field (the id is the event's).
CREATE TABLE field_entries (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    step_id       TEXT REFERENCES work_order_steps (id),
    kind          TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id),
    device_id     TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    data          TEXT NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX field_entries_order_idx ON field_entries (tenant_id, work_order_id, occurred_at);

-- Attachment bytes move to a blob store (files under the data directory); rows written
-- before keep their bytes in `data`.
ALTER TABLE attachments ADD COLUMN storage_key TEXT;
CREATE INDEX attachments_hash_idx ON attachments (tenant_id, work_order_id, sha256);
