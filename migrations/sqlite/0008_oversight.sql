-- Oversight: escalation of overdue work, review schedules and reviews.

-- How long an overdue step stays with its responsible person before the process owner is
-- told, and after how many days without an event an open order counts as stuck.
ALTER TABLE tenants ADD COLUMN escalation_grace_minutes INTEGER NOT NULL DEFAULT 240;
ALTER TABLE tenants ADD COLUMN stuck_after_days INTEGER NOT NULL DEFAULT 3;

-- One row per notice sent, so each is sent exactly once across instances and restarts:
-- (kind, subject, occasion), e.g. ('step_escalated', step id, due time).
CREATE TABLE oversight_notices (
    kind         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    occasion     TEXT NOT NULL,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    work_order_id TEXT REFERENCES work_orders (id),
    recipient_id TEXT REFERENCES users (id),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (kind, subject_id, occasion)
) STRICT;
CREATE INDEX oversight_notices_tenant_idx ON oversight_notices (tenant_id, kind, created_at);

-- Appointments by end, for the missed-appointment scan.
CREATE INDEX appointments_open_end_idx ON appointments (end_at)
    WHERE status IN ('scheduled', 'confirmed');

CREATE TABLE review_schedules (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants (id),
    name         TEXT NOT NULL,
    cadence      TEXT NOT NULL,
    rrule        TEXT,
    time_of_day  TEXT NOT NULL,
    starts_on    TEXT NOT NULL,
    reviewer_id  TEXT NOT NULL REFERENCES users (id),
    -- JSON array of process ids; empty: all work.
    process_ids  TEXT NOT NULL,
    active       INTEGER NOT NULL DEFAULT 1,
    -- The next occurrence the worker must create a review for (NULL: the rule has ended).
    next_due_at  TEXT,
    version      INTEGER NOT NULL DEFAULT 1,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
) STRICT;
CREATE INDEX review_schedules_tenant_idx ON review_schedules (tenant_id, id);
CREATE INDEX review_schedules_due_idx ON review_schedules (next_due_at) WHERE active = 1;

CREATE TABLE reviews (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    schedule_id    TEXT REFERENCES review_schedules (id),
    reviewer_id    TEXT NOT NULL REFERENCES users (id),
    -- The occurrence this review is for; period_start is the one before it.
    scheduled_for  TEXT NOT NULL,
    period_start   TEXT NOT NULL,
    -- Sign off before this (the next occurrence), or the tenant owner is told.
    due_at         TEXT NOT NULL,
    late           INTEGER NOT NULL,
    status         TEXT NOT NULL,
    process_ids    TEXT NOT NULL,
    -- JSON: the headline numbers of the period, frozen at creation.
    headline       TEXT NOT NULL,
    findings       TEXT,
    signed_off_at  TEXT,
    signed_off_by  TEXT REFERENCES users (id),
    escalated_at   TEXT,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CONSTRAINT reviews_schedule_occurrence_key UNIQUE (schedule_id, scheduled_for)
) STRICT;
CREATE INDEX reviews_tenant_idx ON reviews (tenant_id, scheduled_for, id);
CREATE INDEX reviews_open_due_idx ON reviews (due_at) WHERE status = 'open';

CREATE TABLE review_items (
    id              TEXT PRIMARY KEY,
    review_id       TEXT NOT NULL REFERENCES reviews (id),
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    position        INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    object_type     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    work_order_id   TEXT,
    summary         TEXT NOT NULL,
    -- JSON: what was seen when the review was created.
    detail          TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT REFERENCES users (id),
    note            TEXT
) STRICT;
CREATE INDEX review_items_review_idx ON review_items (review_id, position);

CREATE TABLE review_decisions (
    id               TEXT PRIMARY KEY,
    review_id        TEXT NOT NULL REFERENCES reviews (id),
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    text             TEXT NOT NULL,
    process_id       TEXT REFERENCES processes (id),
    -- The process version that implemented the decision (linked later, once published).
    process_version  INTEGER,
    created_by       TEXT NOT NULL REFERENCES users (id),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;
CREATE INDEX review_decisions_review_idx ON review_decisions (review_id, created_at);
CREATE INDEX review_decisions_process_idx ON review_decisions (tenant_id, process_id);
