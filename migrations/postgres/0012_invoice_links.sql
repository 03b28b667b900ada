-- The customer's private links to an invoice's page (issue 18): a new one with every e-mail
-- of the invoice, only the token's SHA-256 stored. Kept apart from `invoices`, whose issued
-- rows never change.
CREATE TABLE invoice_links (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    created_at  TEXT NOT NULL
);
CREATE INDEX invoice_links_invoice ON invoice_links (tenant_id, invoice_id);
