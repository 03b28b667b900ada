-- "My work" lists a person's open steps soonest due first (steps without a due time last).
-- Sorting by COALESCE(due_at, '~') could not use an index, so a technician with thousands
-- of open steps sorted all of them per page. The sort key as a generated column and a
-- partial index over open steps serve the first page straight from the index.
ALTER TABLE work_order_steps ADD COLUMN due_sort TEXT GENERATED ALWAYS AS (COALESCE(due_at, '~')) VIRTUAL;
CREATE INDEX work_order_steps_my_work_idx ON work_order_steps (responsible_id, due_sort, id)
    WHERE status IN ('active', 'in_progress');
