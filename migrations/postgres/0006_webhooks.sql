-- Webhooks and the transactional outbox. A change that others must hear about writes its
-- outbox rows in the same transaction; a worker inside the server delivers them.

CREATE TABLE webhook_endpoints (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT NOT NULL REFERENCES tenants (id),
    url                     TEXT NOT NULL,
    description             TEXT,
    -- JSON array of event types; empty means every type.
    event_types             TEXT NOT NULL,
    enabled                 BIGINT NOT NULL,
    disabled_reason         TEXT,
    -- The signing secrets (needed in clear to sign). During a rotation the previous one
    -- signs too until it expires.
    secret                  TEXT NOT NULL,
    previous_secret         TEXT,
    previous_secret_expires_at TEXT,
    failure_streak          BIGINT NOT NULL DEFAULT 0,
    failing_since           TEXT,
    version                 BIGINT NOT NULL,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, id);

-- One row per message and receiver. message_id is the stable id receivers dedupe on
-- (the `webhook-id` header): the same for every attempt and redelivery.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id),
    message_id      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_endpoint_idx ON outbox (tenant_id, endpoint_id, id);

-- The delivery log.
CREATE TABLE webhook_attempts (
    id               TEXT PRIMARY KEY,
    outbox_id        TEXT NOT NULL REFERENCES outbox (id),
    tenant_id        TEXT NOT NULL REFERENCES tenants (id),
    attempted_at     TEXT NOT NULL,
    status_code      BIGINT,
    latency_ms       BIGINT NOT NULL,
    error            TEXT,
    response_snippet TEXT
);
CREATE INDEX webhook_attempts_outbox_idx ON webhook_attempts (outbox_id, attempted_at);

-- Steps that passed their due time and were announced (`step.overdue`), once per due time:
-- a reopened step with a new due time is announced again.
CREATE TABLE step_overdue_notices (
    step_id     TEXT NOT NULL REFERENCES work_order_steps (id),
    due_at      TEXT NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    notified_at TEXT NOT NULL,
    PRIMARY KEY (step_id, due_at)
);
CREATE INDEX work_order_steps_due_idx ON work_order_steps (due_at)
    WHERE status IN ('active', 'in_progress');
