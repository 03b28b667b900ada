-- An issued invoice never changes (issue 16). The trigger of 0007 listed the frozen columns
-- by hand and missed some; this one compares the whole row except the columns that may move
-- on after issue, so a column added later is frozen without anyone remembering to.
CREATE OR REPLACE FUNCTION invoices_issued_immutable() RETURNS trigger AS $$
DECLARE
    may_change CONSTANT text[] := ARRAY['status', 'paid_total', 'credited_by_id', 'sent_at',
        'paid_at', 'cancelled_at', 'version', 'updated_at'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.number IS NOT NULL THEN
            RAISE EXCEPTION 'issued invoices are immutable';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.number IS NOT NULL AND (to_jsonb(NEW) - may_change) IS DISTINCT FROM (to_jsonb(OLD) - may_change) THEN
        RAISE EXCEPTION 'issued invoices are immutable';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
