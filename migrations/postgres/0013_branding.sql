-- Tenant branding on the customer's pages and e-mails: one accent colour (#rrggbb), the
-- imprint and privacy-policy links, the pages' fallback language, and the logo (its bytes
-- in the blob store under logo_key, the type sniffed at upload, its SHA-256 for the ETag).
ALTER TABLE tenants ADD COLUMN brand_colour TEXT;
ALTER TABLE tenants ADD COLUMN imprint_url TEXT;
ALTER TABLE tenants ADD COLUMN privacy_url TEXT;
ALTER TABLE tenants ADD COLUMN default_language TEXT NOT NULL DEFAULT 'de';
ALTER TABLE tenants ADD COLUMN logo_key TEXT;
ALTER TABLE tenants ADD COLUMN logo_content_type TEXT;
ALTER TABLE tenants ADD COLUMN logo_sha256 TEXT;
