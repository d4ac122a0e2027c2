"""Django's PostgreSQL backend with the row-level security state kept in step (kontor/core/rls.py)."""
