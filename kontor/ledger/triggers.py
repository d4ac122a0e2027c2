"""The ledger's integrity, enforced by the database on SQLite and PostgreSQL alike:
a posting can only join a journal that is not sealed yet, and a journal header (written after its
postings, which the deferred foreign key allows) is refused unless it has two or more postings that sum
to zero."""

from __future__ import annotations

from django.db.backends.base.schema import BaseDatabaseSchemaEditor

SIGNED = "CASE direction WHEN 'in' THEN amount ELSE -amount END"


def _sql(vendor: str) -> tuple[list[str], list[str]]:
    if vendor == "sqlite":
        return (
            [
                """CREATE TRIGGER ledger_posting_sealed BEFORE INSERT ON ledger_posting
                WHEN EXISTS (SELECT 1 FROM ledger_journaltransaction WHERE id = NEW.journal_id)
                BEGIN SELECT RAISE(ABORT, 'ledger: journal already sealed, postings refused'); END;""",
                f"""CREATE TRIGGER ledger_journal_balanced AFTER INSERT ON ledger_journaltransaction
                WHEN (SELECT COUNT(*) FROM ledger_posting WHERE journal_id = NEW.id) < 2
                  OR (SELECT COALESCE(SUM({SIGNED}), 0) FROM ledger_posting WHERE journal_id = NEW.id) <> 0
                BEGIN SELECT RAISE(ABORT, 'ledger: journal does not balance or has fewer than two postings'); END;""",
            ],
            [
                "DROP TRIGGER IF EXISTS ledger_posting_sealed;",
                "DROP TRIGGER IF EXISTS ledger_journal_balanced;",
            ],
        )
    if vendor == "postgresql":
        return (
            [
                """CREATE OR REPLACE FUNCTION ledger_posting_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                  IF EXISTS (SELECT 1 FROM ledger_journaltransaction WHERE id = NEW.journal_id) THEN
                    RAISE EXCEPTION 'ledger: journal % already sealed, postings refused', NEW.journal_id;
                  END IF;
                  RETURN NEW;
                END $$;""",
                """CREATE TRIGGER ledger_posting_sealed BEFORE INSERT ON ledger_posting
                FOR EACH ROW EXECUTE FUNCTION ledger_posting_sealed();""",
                f"""CREATE OR REPLACE FUNCTION ledger_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
                DECLARE n integer; total bigint;
                BEGIN
                  SELECT COUNT(*), COALESCE(SUM({SIGNED}), 0) INTO n, total
                    FROM ledger_posting WHERE journal_id = NEW.id;
                  IF n < 2 OR total <> 0 THEN
                    RAISE EXCEPTION 'ledger: journal % does not balance (% postings, sum %)', NEW.id, n, total;
                  END IF;
                  RETURN NEW;
                END $$;""",
                """CREATE TRIGGER ledger_journal_balanced AFTER INSERT ON ledger_journaltransaction
                FOR EACH ROW EXECUTE FUNCTION ledger_journal_balanced();""",
            ],
            [
                "DROP TRIGGER IF EXISTS ledger_journal_balanced ON ledger_journaltransaction;",
                "DROP FUNCTION IF EXISTS ledger_journal_balanced();",
                "DROP TRIGGER IF EXISTS ledger_posting_sealed ON ledger_posting;",
                "DROP FUNCTION IF EXISTS ledger_posting_sealed();",
            ],
        )
    return [], []


def forward(apps, schema_editor: BaseDatabaseSchemaEditor) -> None:  # type: ignore[no-untyped-def]
    for sql in _sql(schema_editor.connection.vendor)[0]:
        schema_editor.execute(sql, params=None)


def backward(apps, schema_editor: BaseDatabaseSchemaEditor) -> None:  # type: ignore[no-untyped-def]
    for sql in _sql(schema_editor.connection.vendor)[1]:
        schema_editor.execute(sql, params=None)
