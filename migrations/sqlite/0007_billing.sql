-- Billing: the tenant's billing profile, a catalogue of billable items, quotes, invoices
-- with gap-free numbers (number_sequences, inside the issuing transaction), payments, and
-- outgoing e-mail with per-tenant templates. Amounts are integer cents; quantities, prices
-- and rates are exact decimal strings.

CREATE TABLE billing_profiles (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants (id),
    -- The profile document (legal name, address, tax ids, bank, patterns, terms) as JSON.
    profile     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;

CREATE TABLE catalogue_items (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    code        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT,
    unit        TEXT NOT NULL,
    unit_price  TEXT NOT NULL,
    vat_rate    TEXT NOT NULL,
    -- Labour rates: the role and/or skill the rate applies to.
    role        TEXT,
    skill       TEXT,
    active      INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX catalogue_items_code_idx ON catalogue_items (tenant_id, code);

CREATE TABLE quotes (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    work_order_id   TEXT NOT NULL REFERENCES work_orders (id),
    number          TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- The step the customer's answer completes (its key in the order's process).
    step_key        TEXT,
    valid_until     TEXT NOT NULL,
    notes           TEXT,
    treatment       TEXT NOT NULL,
    -- Line inputs and the computed document (lines, VAT groups, totals) as JSON.
    lines           TEXT NOT NULL,
    computed        TEXT NOT NULL,
    grand_total     INTEGER NOT NULL,
    -- SHA-256 of the customer's private link token (the token itself is never stored).
    token_hash      TEXT,
    sent_at         TEXT,
    decided_at      TEXT,
    decision_name   TEXT,
    decision_comment TEXT,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX quotes_order_idx ON quotes (tenant_id, work_order_id, id);
CREATE UNIQUE INDEX quotes_token_idx ON quotes (token_hash);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    work_order_id   TEXT REFERENCES work_orders (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- Assigned at issue, inside the issuing transaction; NULL while a draft.
    number          TEXT,
    source          TEXT NOT NULL,
    treatment       TEXT NOT NULL,
    currency        TEXT NOT NULL,
    issue_date      TEXT,
    due_date        TEXT,
    delivery_date   TEXT NOT NULL,
    buyer_reference TEXT,
    notes           TEXT,
    -- Buyer and (at issue) seller as they were, line inputs, computed document: JSON.
    buyer           TEXT NOT NULL,
    seller          TEXT,
    lines           TEXT NOT NULL,
    computed        TEXT NOT NULL,
    grand_total     INTEGER NOT NULL,
    paid_total      INTEGER NOT NULL DEFAULT 0,
    corrects_id     TEXT REFERENCES invoices (id),
    credited_by_id  TEXT REFERENCES invoices (id),
    -- Renderings produced at issue and never changed: CII (ZUGFeRD EN 16931), XRechnung
    -- CII, and the PDF/A-3 in the blob store.
    cii_xml         TEXT,
    xrechnung_xml   TEXT,
    pdf_key         TEXT,
    pdf_sha256      TEXT,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    issued_at       TEXT,
    sent_at         TEXT,
    paid_at         TEXT,
    cancelled_at    TEXT
) STRICT;
CREATE UNIQUE INDEX invoices_number_idx ON invoices (tenant_id, number);
CREATE INDEX invoices_tenant_idx ON invoices (tenant_id, id);
CREATE INDEX invoices_order_idx ON invoices (tenant_id, work_order_id);
CREATE INDEX invoices_customer_idx ON invoices (tenant_id, customer_id, id);
-- listInvoices by status (most are paid: the open ones must not be searched for).
CREATE INDEX invoices_status_idx ON invoices (tenant_id, status, id);

-- An issued document never changes: only its status, payments, sending and the credit
-- note reference move on.
CREATE TRIGGER invoices_issued_immutable BEFORE UPDATE ON invoices
WHEN OLD.number IS NOT NULL AND (
    NEW.number IS NOT OLD.number OR NEW.lines IS NOT OLD.lines OR NEW.computed IS NOT OLD.computed
    OR NEW.buyer IS NOT OLD.buyer OR NEW.seller IS NOT OLD.seller
    OR NEW.issue_date IS NOT OLD.issue_date OR NEW.due_date IS NOT OLD.due_date
    OR NEW.grand_total IS NOT OLD.grand_total OR NEW.kind IS NOT OLD.kind
    OR NEW.cii_xml IS NOT OLD.cii_xml OR NEW.xrechnung_xml IS NOT OLD.xrechnung_xml
    OR NEW.pdf_key IS NOT OLD.pdf_key OR NEW.pdf_sha256 IS NOT OLD.pdf_sha256
    OR NEW.customer_id IS NOT OLD.customer_id OR NEW.corrects_id IS NOT OLD.corrects_id)
BEGIN
    SELECT RAISE(ABORT, 'issued invoices are immutable');
END;

CREATE TRIGGER invoices_issued_no_delete BEFORE DELETE ON invoices
WHEN OLD.number IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'issued invoices are immutable');
END;

CREATE TABLE invoice_payments (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    paid_on     TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    method      TEXT,
    reference   TEXT,
    recorded_by TEXT,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX invoice_payments_invoice_idx ON invoice_payments (tenant_id, invoice_id, paid_on);

CREATE TABLE email_templates (
    tenant_id   TEXT NOT NULL REFERENCES tenants (id),
    kind        TEXT NOT NULL,
    lang        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, kind, lang)
) STRICT;

-- Outgoing e-mail, written in the transaction that causes it and sent by the worker.
CREATE TABLE emails (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    kind            TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    to_name         TEXT,
    reply_to        TEXT,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- JSON array: {filename, content_type, blob_key?, text?}
    attachments     TEXT NOT NULL,
    work_order_id   TEXT REFERENCES work_orders (id),
    invoice_id      TEXT REFERENCES invoices (id),
    quote_id        TEXT REFERENCES quotes (id),
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
) STRICT;
CREATE INDEX emails_due_idx ON emails (status, next_attempt_at);
CREATE INDEX emails_order_idx ON emails (tenant_id, work_order_id);
CREATE INDEX emails_invoice_idx ON emails (tenant_id, invoice_id);

-- Billing steps the server does itself (handling create_invoice / send_invoice): queued
-- when such a step activates, in the same transaction, and done by the worker.
CREATE TABLE billing_jobs (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    work_order_id   TEXT NOT NULL REFERENCES work_orders (id),
    step_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    locked_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    done_at         TEXT
) STRICT;
CREATE INDEX billing_jobs_due_idx ON billing_jobs (status, next_attempt_at);
CREATE INDEX billing_jobs_order_idx ON billing_jobs (tenant_id, work_order_id);

-- Process analytics read the orders of one process version created in a date range.
CREATE INDEX work_orders_version_created_idx ON work_orders (tenant_id, process_version_id, created_at);
