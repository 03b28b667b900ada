-- Calendars (working hours, exceptions, absences, feed tokens), appointments with their
-- assignees, bookable services and website bookings.

ALTER TABLE tenants ADD COLUMN website_origins TEXT NOT NULL DEFAULT '[]';

-- Who takes a step when it activates (booked with them).
ALTER TABLE work_order_steps ADD COLUMN planned_id TEXT REFERENCES users (id);

CREATE TABLE user_calendars (
    user_id               TEXT PRIMARY KEY REFERENCES users (id),
    tenant_id             TEXT NOT NULL REFERENCES tenants (id),
    weekly_hours          TEXT NOT NULL,
    exceptions            TEXT NOT NULL DEFAULT '{}',
    travel_buffer_minutes BIGINT NOT NULL DEFAULT 0,
    feed_token_hash       TEXT,
    version               BIGINT NOT NULL DEFAULT 1,
    updated_at            TEXT NOT NULL
);

CREATE UNIQUE INDEX user_calendars_feed_idx ON user_calendars (feed_token_hash);

CREATE TABLE absences (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    kind       TEXT NOT NULL,
    start_at   TEXT NOT NULL,
    end_at     TEXT NOT NULL,
    note       TEXT,
    created_at TEXT NOT NULL
);

CREATE INDEX absences_user_idx ON absences (tenant_id, user_id, start_at);

CREATE TABLE appointments (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    work_order_id TEXT NOT NULL REFERENCES work_orders (id),
    step_id       TEXT REFERENCES work_order_steps (id),
    start_at      TEXT NOT NULL,
    end_at        TEXT NOT NULL,
    status        TEXT NOT NULL,
    notes         TEXT,
    sequence      BIGINT NOT NULL DEFAULT 0,
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE INDEX appointments_order_idx ON appointments (tenant_id, work_order_id);
CREATE INDEX appointments_start_idx ON appointments (tenant_id, start_at);

-- One row per person on an appointment, with the times copied for fast overlap checks.
CREATE TABLE appointment_assignees (
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    user_id        TEXT NOT NULL REFERENCES users (id),
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    start_at       TEXT NOT NULL,
    end_at         TEXT NOT NULL,
    blocking       BIGINT NOT NULL,
    PRIMARY KEY (appointment_id, user_id)
);

CREATE INDEX appointment_assignees_user_idx ON appointment_assignees (tenant_id, user_id, start_at);

CREATE TABLE bookable_services (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    name                TEXT NOT NULL,
    description         TEXT,
    process_id          TEXT NOT NULL REFERENCES processes (id),
    step_key            TEXT NOT NULL,
    duration_minutes    BIGINT NOT NULL,
    role                TEXT NOT NULL,
    skills              TEXT NOT NULL DEFAULT '[]',
    lead_time_minutes   BIGINT NOT NULL,
    horizon_days        BIGINT NOT NULL,
    granularity_minutes BIGINT NOT NULL,
    postal_prefixes     TEXT NOT NULL DEFAULT '[]',
    radius_km           DOUBLE PRECISION,
    assignment_rule     TEXT NOT NULL,
    active              BIGINT NOT NULL DEFAULT 1,
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE INDEX bookable_services_tenant_idx ON bookable_services (tenant_id, id);

CREATE TABLE bookings (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    reference      TEXT NOT NULL,
    token_hash     TEXT NOT NULL,
    service_id     TEXT NOT NULL REFERENCES bookable_services (id),
    work_order_id  TEXT NOT NULL REFERENCES work_orders (id),
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    customer_id    TEXT NOT NULL REFERENCES customers (id),
    status         TEXT NOT NULL,
    consent_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CONSTRAINT bookings_token_key UNIQUE (token_hash),
    CONSTRAINT bookings_reference_key UNIQUE (tenant_id, reference)
);

-- Step indexes must not lead with tenant_id: with it, the planner preferred them over the
-- (work_order_id, position) key for "the steps of these orders" and scanned every step of
-- the tenant. Person and state lead instead; queries still filter by tenant.
DROP INDEX work_order_steps_responsible_idx;
CREATE INDEX work_order_steps_responsible_idx ON work_order_steps (responsible_id, status);
CREATE INDEX work_order_steps_state_idx ON work_order_steps (status, responsible_id);

-- Open steps per person on running orders, kept in step with every change of an order in
-- the same transaction: assignment reads it instead of counting all open steps.
CREATE TABLE user_open_steps (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    user_id    TEXT NOT NULL REFERENCES users (id),
    open_steps BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);

INSERT INTO user_open_steps (tenant_id, user_id, open_steps)
SELECT s.tenant_id, s.responsible_id, COUNT(*) FROM work_order_steps s JOIN work_orders o ON o.id = s.work_order_id
WHERE s.status IN ('active', 'in_progress') AND o.status IN ('open', 'in_progress') AND s.responsible_id IS NOT NULL
GROUP BY s.tenant_id, s.responsible_id;
