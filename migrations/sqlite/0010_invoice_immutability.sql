-- An issued invoice never changes (issue 16). The trigger of 0007 listed the frozen columns
-- by hand and missed some. SQLite has no row-to-JSON, so this trigger names every column
-- except those that may move on after issue (status, paid_total, credited_by_id, sent_at,
-- paid_at, cancelled_at, version, updated_at); the test
-- `the_database_refuses_every_change_to_an_issued_invoice` reads the table's columns and fails
-- when a column is added without being frozen here.
DROP TRIGGER invoices_issued_immutable;
CREATE TRIGGER invoices_issued_immutable BEFORE UPDATE ON invoices
WHEN OLD.number IS NOT NULL AND (
    NEW.id IS NOT OLD.id
    OR NEW.tenant_id IS NOT OLD.tenant_id
    OR NEW.work_order_id IS NOT OLD.work_order_id
    OR NEW.customer_id IS NOT OLD.customer_id
    OR NEW.kind IS NOT OLD.kind
    OR NEW.number IS NOT OLD.number
    OR NEW.source IS NOT OLD.source
    OR NEW.treatment IS NOT OLD.treatment
    OR NEW.currency IS NOT OLD.currency
    OR NEW.issue_date IS NOT OLD.issue_date
    OR NEW.due_date IS NOT OLD.due_date
    OR NEW.delivery_date IS NOT OLD.delivery_date
    OR NEW.buyer_reference IS NOT OLD.buyer_reference
    OR NEW.notes IS NOT OLD.notes
    OR NEW.buyer IS NOT OLD.buyer
    OR NEW.seller IS NOT OLD.seller
    OR NEW.lines IS NOT OLD.lines
    OR NEW.computed IS NOT OLD.computed
    OR NEW.grand_total IS NOT OLD.grand_total
    OR NEW.corrects_id IS NOT OLD.corrects_id
    OR NEW.cii_xml IS NOT OLD.cii_xml
    OR NEW.xrechnung_xml IS NOT OLD.xrechnung_xml
    OR NEW.pdf_key IS NOT OLD.pdf_key
    OR NEW.pdf_sha256 IS NOT OLD.pdf_sha256
    OR NEW.created_at IS NOT OLD.created_at
    OR NEW.issued_at IS NOT OLD.issued_at)
BEGIN
    SELECT RAISE(ABORT, 'issued invoices are immutable');
END;
