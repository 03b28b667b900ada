-- Hardening (issue 15): password resets and invitations, the refresh grace period, sealed
-- secrets, and where a customer record came from.

-- One-time links to set a password (an admin's reset, a forgotten password, an invitation,
-- `workorders tenant create`). Only SHA-256 hashes of the tokens are stored.
CREATE TABLE password_resets (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    user_id     TEXT NOT NULL REFERENCES users (id),
    token_hash  TEXT NOT NULL,
    -- `reset` (admin or forgotten password), `invitation` (new user), `first_owner` (CLI)
    purpose     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    CONSTRAINT password_resets_token_key UNIQUE (token_hash)
);
CREATE INDEX password_resets_user_idx ON password_resets (tenant_id, user_id);

-- The token pair a rotation answered with, sealed, so that a handheld retrying a refresh
-- whose answer was lost gets the same pair within the grace period.
ALTER TABLE refresh_tokens ADD COLUMN successor_sealed TEXT;
ALTER TABLE refresh_tokens ADD COLUMN successor_id TEXT;

-- Bodies of sent e-mails are not needed any more (and held private links).
UPDATE emails SET body = '' WHERE status = 'sent';

-- `staff` (created through the API) or `web_booking` (an anonymous booking: never merged
-- into an existing customer without staff looking at it).
ALTER TABLE customers ADD COLUMN source TEXT NOT NULL DEFAULT 'staff';

-- Background work that fails for one tenant (an unreadable row, a broken schedule): kept
-- per tenant, worker and phase while it lasts, shown in the tenant's oversight view and
-- counted in /metrics; the work of other tenants goes on.
CREATE TABLE worker_problems (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    worker      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    first_seen  TEXT NOT NULL,
    last_seen   TEXT NOT NULL,
    occurrences BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, worker, phase)
);
