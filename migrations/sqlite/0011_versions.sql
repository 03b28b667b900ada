-- Every resource a client can change or delete carries a version, so that PATCH, PUT and
-- DELETE can require If-Match (issue 16): absences, e-mail template overrides and review
-- decisions had none.
ALTER TABLE absences ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE email_templates ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
-- Restoring the default keeps the row (customized = 0) so that its version goes on rising: a
-- client holding the ETag of an earlier override can never overwrite a later one.
ALTER TABLE email_templates ADD COLUMN customized INTEGER NOT NULL DEFAULT 1;
ALTER TABLE review_decisions ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
