-- Process maps, customers and sites, work orders with their steps, the append-only history,
-- attachments, per-tenant number sequences and assignment state.

ALTER TABLE tenants ADD COLUMN process_owner_id TEXT REFERENCES users (id);
ALTER TABLE tenants ADD COLUMN assignment_rule TEXT NOT NULL DEFAULT 'least_loaded';

CREATE TABLE number_sequences (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    year       INTEGER NOT NULL,
    last_value INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name, year)
) STRICT;

CREATE TABLE assignment_cursors (
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    pool         TEXT NOT NULL,
    last_user_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, pool)
) STRICT;

CREATE TABLE processes (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    name                TEXT NOT NULL,
    description         TEXT,
    status              TEXT NOT NULL,
    published_version   INTEGER,
    version             INTEGER NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CONSTRAINT processes_tenant_name_key UNIQUE (tenant_id, name)
) STRICT;

CREATE INDEX processes_tenant_idx ON processes (tenant_id, id);

CREATE TABLE process_versions (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    process_id   TEXT NOT NULL REFERENCES processes (id),
    number       INTEGER NOT NULL,
    status       TEXT NOT NULL,
    steps        TEXT NOT NULL,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    published_at TEXT,
    CONSTRAINT process_versions_number_key UNIQUE (process_id, number)
) STRICT;

CREATE TABLE customers (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    name            TEXT NOT NULL,
    email           TEXT,
    phone           TEXT,
    billing_street  TEXT,
    billing_postal_code TEXT,
    billing_city    TEXT,
    billing_country TEXT,
    vat_id          TEXT,
    buyer_reference TEXT,
    notes           TEXT,
    search_text     TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;

CREATE INDEX customers_tenant_idx ON customers (tenant_id, id);

CREATE TABLE sites (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    customer_id TEXT NOT NULL REFERENCES customers (id),
    label       TEXT,
    street      TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    city        TEXT NOT NULL,
    country     TEXT NOT NULL,
    latitude    REAL,
    longitude   REAL,
    notes       TEXT,
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE INDEX sites_customer_idx ON sites (tenant_id, customer_id, id);

CREATE TABLE work_orders (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants (id),
    number             TEXT NOT NULL,
    process_id         TEXT NOT NULL REFERENCES processes (id),
    process_version_id TEXT NOT NULL REFERENCES process_versions (id),
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    site_id            TEXT NOT NULL REFERENCES sites (id),
    channel            TEXT NOT NULL,
    title              TEXT NOT NULL,
    description        TEXT,
    priority           TEXT NOT NULL,
    requested_start    TEXT,
    requested_end      TEXT,
    status             TEXT NOT NULL,
    held_from          TEXT,
    cancel_reason      TEXT,
    needs_attention    INTEGER NOT NULL DEFAULT 0,
    search_text        TEXT NOT NULL,
    created_by_type    TEXT NOT NULL,
    created_by_id      TEXT,
    version            INTEGER NOT NULL DEFAULT 1,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    completed_at       TEXT,
    CONSTRAINT work_orders_number_key UNIQUE (tenant_id, number)
) STRICT;

CREATE INDEX work_orders_tenant_idx ON work_orders (tenant_id, id);
CREATE INDEX work_orders_customer_idx ON work_orders (tenant_id, customer_id);
CREATE INDEX work_orders_status_idx ON work_orders (tenant_id, status);

CREATE TABLE work_order_steps (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    work_order_id   TEXT NOT NULL REFERENCES work_orders (id),
    position        INTEGER NOT NULL,
    stage           INTEGER NOT NULL,
    key             TEXT NOT NULL,
    definition      TEXT NOT NULL,
    status          TEXT NOT NULL,
    responsible_id  TEXT REFERENCES users (id),
    checked         TEXT NOT NULL DEFAULT '[]',
    evidence        TEXT NOT NULL DEFAULT '[]',
    rework_count    INTEGER NOT NULL DEFAULT 0,
    activated_at    TEXT,
    due_at          TEXT,
    started_at      TEXT,
    finished_at     TEXT,
    skip_reason     TEXT,
    CONSTRAINT work_order_steps_position_key UNIQUE (work_order_id, position)
) STRICT;

CREATE INDEX work_order_steps_responsible_idx ON work_order_steps (tenant_id, responsible_id, status);

-- Everyone who ever held a step of an order (technicians see those orders).
CREATE TABLE work_order_participants (
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    user_id       TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (work_order_id, user_id)
) STRICT;

CREATE TABLE work_order_events (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    seq           INTEGER NOT NULL,
    command_id    TEXT NOT NULL,
    type          TEXT NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT,
    at            TEXT NOT NULL,
    data          TEXT NOT NULL,
    CONSTRAINT work_order_events_seq_key UNIQUE (work_order_id, seq)
) STRICT;

CREATE INDEX work_order_events_tenant_idx ON work_order_events (tenant_id, at);

-- History is append-only: no update or delete path, also not through SQL.
CREATE TRIGGER work_order_events_no_update BEFORE UPDATE ON work_order_events
BEGIN
    SELECT RAISE(ABORT, 'work_order_events is append-only');
END;

CREATE TRIGGER work_order_events_no_delete BEFORE DELETE ON work_order_events
BEGIN
    SELECT RAISE(ABORT, 'work_order_events is append-only');
END;

CREATE TABLE attachments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    step_id       TEXT REFERENCES work_order_steps (id),
    kind          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sha256        TEXT NOT NULL,
    data          BLOB NOT NULL,
    created_by_type TEXT NOT NULL,
    created_by_id TEXT,
    created_at    TEXT NOT NULL
) STRICT;

CREATE INDEX attachments_order_idx ON attachments (tenant_id, work_order_id);
