-- More private links to a booking's page (issue 18): the "we are on our way" e-mail links
-- the page although only the hash of the booking's first token is stored. Each e-mail gets
-- a token of its own; only its SHA-256 is kept.
CREATE TABLE booking_links (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    booking_id  TEXT NOT NULL REFERENCES bookings (id),
    created_at  TEXT NOT NULL
);
CREATE INDEX booking_links_booking ON booking_links (tenant_id, booking_id);
