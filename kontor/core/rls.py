"""PostgreSQL row-level security: the second wall behind `kontor.core.scope`.

Every table with a `customer_id` column (and the customer table itself, by `id`) gets a policy that lets a
row through only when it belongs to the tenant set on the connection, or when an explicit bypass is on:

    customer_id = nullif(current_setting('kontor.customer_id', true), '')::bigint
    OR current_setting('kontor.bypass', true) = 'on'

The tables are found from the models, so a new tenant model gets its policy from the next `migrate`
(post_migrate) or `kontor rls setup` without anyone writing SQL; `tests/core/test_rls.py` fails when a table
with a `customer_id` has none. The few tables where an empty customer means "shared by everyone" (built-in
roles, staff users, the cost-center catalogue, unassigned numbers) let tenants *read* those rows, never
write them.

The application connects as the owner and, on every new connection, switches to `kontor_app` (NOLOGIN,
owns nothing, not a superuser, so the policies bind it) with `SET ROLE`; migrate and the other owner
commands keep the owner. The tenant and the bypass are session settings (`set_config(..., false)`):
Django runs in autocommit outside `atomic`, so a `SET LOCAL` would be gone after the first statement.
`tenant()`, `bypass()` and the request bracket in TenancyMiddleware change only the thread's wanted
state; the database backend (kontor/core/postgresql) brings the connection in step with it before any
statement runs (`sync`), and only when they differ. A persistent connection (CONN_MAX_AGE) therefore
never carries one request's tenant into the next: the next request's first statement is preceded by
its own state. A rollback undoes a `set_config` made inside it, so the backend forgets what the
connection holds after any rollback and sets it again before the next statement.

What this wall does not stop: SQL injection (any statement could `RESET ROLE` or set `kontor.bypass`).
It stops what it is meant for, a query that forgot its scope.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger("kontor.rls")

APP_ROLE = "kontor_app"
# PostgreSQL refuses COPY FROM into a table under row-level security; bulk loads of rows the code built for
# one scope (a batch, a campaign) switch to this role, which has BYPASSRLS, for the COPY statement only.
COPY_ROLE = "kontor_copy"
POLICY = "kontor_tenant"

_TENANT_SQL = "{col} = nullif(current_setting('kontor.customer_id', true), '')::bigint"
_BYPASS_SQL = "current_setting('kontor.bypass', true) = 'on'"

# Tables whose rows with an empty customer belong to everyone: tenants may read them, not write them.
SHARED_WHEN_EMPTY: dict[str, str] = {
    "access_role": "built-in roles (Master user, Sender, ...) are offered to every customer",
    "access_user": "staff users appear as actors in a customer's audit log and messages",
    "tenancy_costcenter": "the provider's cost-center catalogue is chosen from by every customer",
    "numbers_number": "unassigned numbers of the provider's inventory",
}
# Tables keyed by another column than customer_id.
TENANT_COLUMN: dict[str, str] = {"tenancy_customer": "id"}
# Tables with a customer_id that deliberately get no policy, and why (none today).
EXEMPT: dict[str, str] = {}

# Commands that must act as the owner of the tables (DDL, test databases); every other command switches
# to the application role like the web server does.
OWNER_COMMANDS = frozenset(
    {"migrate", "makemigrations", "sqlmigrate", "showmigrations", "flush", "sqlflush", "dbshell", "rls", "test"}
)


@dataclass(frozen=True)
class State:
    customer_id: int | None = None
    bypass: str | None = None  # the reason, when on


_DENY = State()
_local = threading.local()
# What a thread sees outside any tenant()/bypass(): deny for the web (each request sets its own), a bypass
# for commands and the worker, which are system jobs (they narrow to a customer where they act for one).
_default: State = _DENY
# Whether new connections switch to APP_ROLE; off for owner commands and until the tests built their db.
_use_app_role = False


def enabled() -> bool:
    return bool(getattr(settings, "KONTOR_RLS", False)) and connection.vendor == "postgresql"


def current() -> State:
    return getattr(_local, "state", None) or _default


def set_default_bypass(reason: str) -> None:
    """The state of every thread of this process outside tenant()/bypass(): a bypass (system jobs)."""
    global _default
    _default = State(bypass=reason)
    log.info("rls bypass by default in this process: %s", reason)


def set_default_deny() -> None:
    global _default
    _default = _DENY


def configure_process(argv: list[str] | None = None) -> None:
    """Called once at start-up (CoreConfig.ready). A web server starts every thread from deny, since each
    request sets its own tenant; anything else (the worker, commands, scripts, benchmarks) is a system job
    and starts from the bypass. Owner commands (migrate, ...) keep the owner's role."""
    global _use_app_role
    argv = sys.argv if argv is None else argv
    program = Path(argv[0]).name if argv else ""
    command = ""
    if len(argv) > 1 and (program in {"manage.py", "kontor", "django-admin"} or argv[0].endswith("kontor/__main__.py")):
        command = argv[1]
    if "pytest" in sys.modules:
        # tests/conftest.py switches to the application role once the test database exists; the test
        # world is built outside any request, so the tests start from a bypass.
        set_default_bypass("tests")
        return
    web = command == "runserver" or program in {"gunicorn", "uvicorn", "granian", "daphne"}
    if not web:
        set_default_bypass(f"system job: {command or program}")
    # Only the application's own processes switch; a script or benchmark that builds data with the ORM
    # and COPY keeps the role it logged in with (the servers it starts switch on their own).
    _use_app_role = bool(getattr(settings, "KONTOR_RLS", False)) and (
        web or (bool(command) and command not in OWNER_COMMANDS)
    )


def pre_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """A migrate called from code (call_command, a benchmark's set-up) still needs the owner for its DDL."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor == "postgresql" and _use_app_role:
        with conn.cursor() as cursor:
            cursor.execute("RESET ROLE")


def use_app_role(on: bool = True) -> None:
    """Switch new connections (and this thread's open one) to APP_ROLE, or back to the owner."""
    global _use_app_role
    _use_app_role = on
    if connection.connection is not None and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {APP_ROLE}" if on else "RESET ROLE")


def app_role_in_use() -> bool:
    return _use_app_role


def on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor != "postgresql" or not getattr(settings, "KONTOR_RLS", False):
        return
    if _use_app_role:
        with connection.cursor() as cursor:
            cursor.execute(f"SET ROLE {APP_ROLE}")


_SYNC_SQL = "SELECT set_config('kontor.customer_id', %s, false), set_config('kontor.bypass', %s, false)"


def sync(conn: Any) -> None:
    """Called by the backend whenever a cursor opens: the connection takes this thread's state, with
    one statement, unless it already holds it."""
    if conn.connection is None or not getattr(settings, "KONTOR_RLS", False):
        return
    state = current()
    wanted = ("" if state.customer_id is None else str(state.customer_id), "on" if state.bypass else "off")
    if conn.rls_applied == wanted:
        return
    with conn.wrap_database_errors:
        conn.connection.execute(_SYNC_SQL, wanted)
    conn.rls_applied = wanted


def _switch(state: State) -> None:
    # The database follows before the thread's next statement (sync).
    _local.state = state


@contextmanager
def _state(state: State) -> Iterator[None]:
    previous = getattr(_local, "state", None)
    _switch(state)
    try:
        yield
    finally:
        _local.state = previous


@contextmanager
def tenant(customer_id: int) -> Iterator[None]:
    """Queries inside see only this customer's rows (and the shared ones)."""
    with _state(State(customer_id=int(customer_id))):
        yield


@contextmanager
def bypass(reason: str) -> Iterator[None]:
    """Queries inside see every customer's rows: provider staff and system jobs only. Logged with the
    reason; the staff action itself writes its audit row as usual."""
    log.debug("rls bypass: %s", reason)
    with _state(State(bypass=reason)):
        yield


@contextmanager
def enforced() -> Iterator[None]:
    """Neither a tenant nor a bypass: tenant tables look empty (tests, and code that must prove it)."""
    with _state(_DENY):
        yield


def narrow_to(customer_id: int) -> None:
    """Inside a request's bracket (TenancyMiddleware), once an API key named its customer: the rest of
    the request sees that customer only. The bracket restores the state at the end of the request."""
    if enabled():
        _switch(State(customer_id=int(customer_id)))


def thread_bypass(reason: str) -> None:
    """For the whole life of this thread (one that writes for several customers at once, such as the
    group-commit thread): a bypass, applied to its connection now and to every new one it opens."""
    log.info("rls bypass for thread %s: %s", threading.current_thread().name, reason)
    _local.state = State(bypass=reason)


# -- the policies ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TablePolicy:
    table: str
    column: str
    shared_when_empty: bool

    def sql(self) -> list[str]:
        own = f"({_TENANT_SQL.format(col=self.column)} OR {_BYPASS_SQL})"
        using = f"({own} OR {self.column} IS NULL)" if self.shared_when_empty else own
        t = self.table
        return [
            f'ALTER TABLE "{t}" ENABLE ROW LEVEL SECURITY',
            f'ALTER TABLE "{t}" FORCE ROW LEVEL SECURITY',
            f'DROP POLICY IF EXISTS {POLICY} ON "{t}"',
            f'CREATE POLICY {POLICY} ON "{t}" USING {using} WITH CHECK {own}',
        ]


def tenant_tables() -> list[TablePolicy]:
    """Every table that must carry the policy, derived from the models."""
    from django.apps import apps

    found: dict[str, TablePolicy] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        table = meta.db_table
        columns = {f.column for f in meta.local_concrete_fields}
        column = TENANT_COLUMN.get(table) or ("customer_id" if "customer_id" in columns else None)
        if column is None or table in EXEMPT:
            continue
        found[table] = TablePolicy(table, column, table in SHARED_WHEN_EMPTY)
    return sorted(found.values(), key=lambda p: p.table)


def _create_role(cursor: Any, name: str, attributes: str) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
    if cursor.fetchone() is not None:
        return
    try:
        cursor.execute(f"CREATE ROLE {name} {attributes}")
    except DatabaseError:
        # Two test databases set up at once may race to create the cluster-wide role.
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
        if cursor.fetchone() is None:
            raise


def ensure_role(cursor: Any) -> None:
    """The application role (and the COPY role), their grants on every table and sequence, and the same
    for future tables."""
    _create_role(cursor, APP_ROLE, "NOLOGIN NOSUPERUSER NOBYPASSRLS")
    _create_role(cursor, COPY_ROLE, "NOLOGIN NOSUPERUSER BYPASSRLS")  # creating BYPASSRLS needs a superuser
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    if not (row and row[0]):
        # A non-superuser owner may only SET ROLE to a role it is a member of.
        cursor.execute(f"GRANT {APP_ROLE}, {COPY_ROLE} TO current_user")
    cursor.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}, {COPY_ROLE}")
    cursor.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    cursor.execute(f"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO {COPY_ROLE}")
    cursor.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}, {COPY_ROLE}")
    cursor.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {APP_ROLE}"
    )
    cursor.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT ON TABLES TO {COPY_ROLE}")
    cursor.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {APP_ROLE}, {COPY_ROLE}"
    )


@contextmanager
def copy_rows(cursor: Any, what: str) -> Iterator[None]:
    """Around `COPY … FROM STDIN` of rows built for one scope: PostgreSQL refuses COPY FROM into a table
    under row-level security, so the statement runs as COPY_ROLE (BYPASSRLS, INSERT only). Logged."""
    if not (_use_app_role and getattr(settings, "KONTOR_RLS", False) and connection.vendor == "postgresql"):
        yield
        return
    log.debug("rls bypass for COPY: %s", what)
    cursor.execute(f"SET ROLE {COPY_ROLE}")
    try:
        yield
    finally:
        if connection.in_atomic_block and connection.needs_rollback:
            pass  # the rollback restores the role
        else:
            try:
                cursor.execute(f"SET ROLE {APP_ROLE}")
            except DatabaseError:
                # An aborted transaction: its rollback restores the role set before it.
                connection.needs_rollback = connection.in_atomic_block


def apply_policies(cursor: Any) -> list[str]:
    tables = tenant_tables()
    for policy in tables:
        for sql in policy.sql():
            cursor.execute(sql)
    return [p.table for p in tables]


def remove_policies(cursor: Any) -> list[str]:
    tables = tenant_tables()
    for p in tables:
        cursor.execute(f'DROP POLICY IF EXISTS {POLICY} ON "{p.table}"')
        cursor.execute(f'ALTER TABLE "{p.table}" NO FORCE ROW LEVEL SECURITY')
        cursor.execute(f'ALTER TABLE "{p.table}" DISABLE ROW LEVEL SECURITY')
    return [p.table for p in tables]


def setup(using: str = "default") -> list[str]:
    """Idempotent: the role, its grants, and a policy on every tenant table. Runs as the owner."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql":
        return []
    with conn.cursor() as cursor:
        cursor.execute("SELECT current_user, session_user")
        current_user, session_user = cursor.fetchone()
        if current_user != session_user:
            cursor.execute("RESET ROLE")  # grants and policies need the owner
        try:
            ensure_role(cursor)
            return apply_policies(cursor)
        finally:
            if current_user != session_user:
                cursor.execute(f"SET ROLE {current_user}")


def missing(cursor: Any) -> list[str]:
    """Tenant tables without the policy (enabled and forced), and tables the role may not use."""
    cursor.execute(
        "SELECT c.relname, c.relrowsecurity AND c.relforcerowsecurity AND EXISTS ("
        "  SELECT 1 FROM pg_policies p WHERE p.schemaname = n.nspname AND p.tablename = c.relname"
        "  AND p.policyname = %s),"
        " (SELECT count(*) FROM pg_roles WHERE rolname = %s) > 0"
        " AND has_table_privilege(%s, c.oid, 'SELECT, INSERT, UPDATE, DELETE')"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
        [POLICY, APP_ROLE, APP_ROLE],
    )
    rows = {name: (policy, granted) for name, policy, granted in cursor.fetchall()}
    tenant = {p.table for p in tenant_tables()}
    return sorted(
        name for name, (policy, granted) in rows.items() if not granted or (name in tenant and not policy)
    ) + sorted(t for t in tenant if t not in rows)


def post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Every migrate (and the tests' flush) makes sure of the policies, so a new tenant table is never
    left without one; when nothing is missing it changes nothing (ALTER TABLE would lock every table)."""
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "postgresql" or not getattr(settings, "KONTOR_RLS", False):
        return
    with conn.cursor() as cursor:
        if missing(cursor):
            setup(using)
        if _use_app_role:
            cursor.execute(f"SET ROLE {APP_ROLE}")  # back from pre_migrate
