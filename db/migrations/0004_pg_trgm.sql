-- Trigram matching for typo-tolerant product search (pg_trgm: bundled with PostgreSQL and Neon; PGlite
-- loads it from @electric-sql/pglite/contrib/pg_trgm, passed to every PGlite the app and tests create).
create extension if not exists pg_trgm;
