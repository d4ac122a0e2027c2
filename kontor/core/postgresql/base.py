"""Django's PostgreSQL backend, plus one duty: before any statement runs, the connection holds the
row-level security state (tenant or bypass) of the thread that runs it.

`rls.tenant()`, `rls.bypass()` and the request bracket only change the thread's wanted state; the
database learns of it from `rls.sync()` when a cursor is next opened, and only if it differs from what
the connection is known to hold. A request that never reaches the database (a send served from the
per-process memo and written by the group-commit thread) costs no round trip at all, and a request
pays at most one `set_config` per change of tenant instead of one per bracket.

What the connection holds is known until something may have undone it: a new connection, a rollback
or a rollback to a savepoint (PostgreSQL undoes a `set_config` made inside what is rolled back).
Each of those forgets, and the next cursor sets the state again."""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from kontor.core import rls


class DatabaseWrapper(base.DatabaseWrapper):
    # The (customer, bypass) settings the connection holds, None when unknown.
    rls_applied: tuple[str, str] | None = None
    # Set while a rollback to a savepoint runs: the transaction may be aborted, and it refuses any
    # statement but the rollback itself.
    _rls_hold = False

    def init_connection_state(self) -> None:
        self.rls_applied = None
        super().init_connection_state()

    def _cursor(self, name: str | None = None) -> Any:
        cursor = super()._cursor(name)  # type: ignore[misc]  # private in the stubs, not in Django
        if not self._rls_hold:
            rls.sync(self)
        return cursor

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self.rls_applied = None

    def _savepoint_rollback(self, sid: str) -> None:
        self._rls_hold = True
        try:
            super()._savepoint_rollback(sid)  # type: ignore[misc]
        finally:
            self._rls_hold = False
            self.rls_applied = None
