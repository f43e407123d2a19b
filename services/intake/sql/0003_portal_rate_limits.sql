-- Per-portal request rate limits (requests per second and burst); NULL = the default.
ALTER TABLE portals ADD COLUMN rate_per_s double precision CHECK (rate_per_s > 0);
ALTER TABLE portals ADD COLUMN burst integer CHECK (burst > 0);
