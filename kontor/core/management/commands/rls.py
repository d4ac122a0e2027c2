"""`kontor rls setup|status|disable`: PostgreSQL row-level security (kontor/core/rls.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from kontor.core import rls


class Command(BaseCommand):
    help = (
        "setup: create the application role kontor_app, grant it the tables, put the tenant policy on "
        "every tenant table (idempotent; run as the owner). status: list the tables and their policies. "
        "disable: drop the policies (the application keeps working on scoping alone)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", choices=["setup", "status", "disable"])
        parser.add_argument("--database", default="default")

    def handle(self, *args: Any, **options: Any) -> None:
        conn = connections[options["database"]]
        if conn.vendor != "postgresql":
            self.stdout.write("Row-level security is a PostgreSQL feature; nothing to do on this database.")
            return
        action = options["action"]
        if action == "setup":
            tables = rls.setup(options["database"])
            self.stdout.write(f"Role {rls.APP_ROLE} ready; policy {rls.POLICY} on {len(tables)} tables.")
        elif action == "disable":
            with conn.cursor() as cursor:
                tables = rls.remove_policies(cursor)
            self.stdout.write(f"Policies removed from {len(tables)} tables.")
        else:
            missing = self._status(conn)
            if missing:
                raise CommandError(f"{len(missing)} tenant tables lack the policy: {', '.join(missing)}")

    def _status(self, conn: Any) -> list[str]:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = %s) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                [rls.POLICY],
            )
            rows = {name: (enabled, forced, policy) for name, enabled, forced, policy in cursor.fetchall()}
        missing = []
        for p in rls.tenant_tables():
            enabled, forced, policy = rows.get(p.table, (False, False, False))
            ok = enabled and forced and policy
            shared = " (shared rows readable)" if p.shared_when_empty else ""
            self.stdout.write(f"{'ok     ' if ok else 'MISSING'} {p.table} by {p.column}{shared}")
            if not ok:
                missing.append(p.table)
        return missing
