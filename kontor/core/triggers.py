"""Database triggers that make a table append-only, on SQLite and on PostgreSQL, so that not even
code that goes around the ORM can rewrite history."""

from __future__ import annotations

from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def append_only_sql(table: str, vendor: str) -> tuple[list[str], list[str]]:
    """(forward statements, reverse statements) for `table`."""
    if vendor == "postgresql":
        fn = f"{table}_append_only"
        return (
            [
                f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION '{table} is append-only: % refused', TG_OP; END $$;""",
                f"""CREATE TRIGGER {fn} BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {fn}();""",
                f"""CREATE TRIGGER {fn}_truncate BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {fn}();""",
            ],
            [
                f"DROP TRIGGER IF EXISTS {fn}_truncate ON {table};",
                f"DROP TRIGGER IF EXISTS {fn} ON {table};",
                f"DROP FUNCTION IF EXISTS {fn}();",
            ],
        )
    if vendor == "sqlite":
        return (
            [
                f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END;""",
                f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
                BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END;""",
            ],
            [f"DROP TRIGGER IF EXISTS {table}_no_update;", f"DROP TRIGGER IF EXISTS {table}_no_delete;"],
        )
    return [], []


def make_append_only(table: str):  # type: ignore[no-untyped-def]
    """A pair of RunPython callables for a migration."""

    def forward(apps, schema_editor: BaseDatabaseSchemaEditor) -> None:  # type: ignore[no-untyped-def]
        for sql in append_only_sql(table, schema_editor.connection.vendor)[0]:
            schema_editor.execute(sql, params=None)

    def backward(apps, schema_editor: BaseDatabaseSchemaEditor) -> None:  # type: ignore[no-untyped-def]
        for sql in append_only_sql(table, schema_editor.connection.vendor)[1]:
            schema_editor.execute(sql, params=None)

    return forward, backward


# Tables made append-only by migrations; tests' database flush has to step around their triggers.
APPEND_ONLY_TABLES: list[str] = ["audit_auditentry", "ledger_posting", "ledger_journaltransaction"]


def flush_wrapper(vendor: str, tables: list[str]) -> tuple[list[str], list[str]]:
    """(statements before, statements after) a flush that lifts and restores the append-only triggers.
    Only test teardown uses it; the application never deletes history."""
    before: list[str] = []
    after: list[str] = []
    for table in APPEND_ONLY_TABLES:
        if table not in tables:
            continue
        create, drop = append_only_sql(table, vendor)
        before.extend(drop)
        after.extend(create)
    return before, after
