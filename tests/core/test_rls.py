"""PostgreSQL row-level security, the second wall (kontor/core/rls.py): every tenant table carries the
policy, raw SQL without a tenant sees nothing, a tenant cannot write another customer's row, and
requests are narrowed to their customer."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction

from kontor.core import rls
from kontor.ledger.models import Wallet
from kontor.tenancy.models import Account, Office

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not (getattr(settings, "KONTOR_RLS", False) and connection.vendor == "postgresql"),
        reason="row-level security is on only on PostgreSQL with KONTOR_RLS",
    ),
]


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{table}"')
        return int(cursor.fetchone()[0])


def test_every_table_with_a_customer_has_the_policy_enabled_and_forced():
    tables = rls.tenant_tables()
    names = {p.table for p in tables}
    # The models drive the list: each of these must be in it, whatever app adds the next one.
    assert {"tenancy_account", "access_user", "ledger_posting", "messaging_message", "audit_auditentry"} <= names
    assert "tenancy_customer" in names  # the customer row itself, by id
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
        )
        flags = {name: (enabled, forced) for name, enabled, forced in cursor.fetchall()}
        cursor.execute("SELECT tablename, qual, with_check FROM pg_policies WHERE policyname = %s", [rls.POLICY])
        policies = {name: (qual, check) for name, qual, check in cursor.fetchall()}
        assert rls.missing(cursor) == []
    for policy in tables:
        assert flags[policy.table] == (True, True), policy.table
        qual, check = policies[policy.table]
        assert "kontor.customer_id" in qual and "kontor.bypass" in qual, policy.table
        assert "kontor.customer_id" in check and "IS NULL" not in check, policy.table


def test_every_model_with_a_customer_column_is_covered():
    from django.apps import apps

    names = {p.table for p in rls.tenant_tables()}
    for model in apps.get_models(include_auto_created=True):
        columns = {f.column for f in model._meta.local_concrete_fields}
        if "customer_id" in columns and not model._meta.proxy:
            assert model._meta.db_table in names or model._meta.db_table in rls.EXEMPT, model


def test_a_table_without_its_policy_is_found_missing():
    with connection.cursor() as cursor, transaction.atomic():
        cursor.execute(f"RESET ROLE; DROP POLICY {rls.POLICY} ON tenancy_office")
        try:
            assert "tenancy_office" in rls.missing(cursor)
        finally:
            transaction.set_rollback(True)


def test_the_application_connects_as_a_role_that_rls_binds():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user")
        user, superuser, bypassrls = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_tables WHERE tableowner = current_user")
        owned = cursor.fetchone()[0]
    assert (user, superuser, bypassrls, owned) == (rls.APP_ROLE, False, False, 0)


def test_raw_sql_without_a_tenant_sees_no_rows(world):
    assert _count("tenancy_account") >= 4  # the tests' default bypass sees both customers
    with rls.enforced():
        for policy in rls.tenant_tables():
            if policy.shared_when_empty:
                with connection.cursor() as cursor:
                    cursor.execute(f'SELECT count(*) FROM "{policy.table}" WHERE {policy.column} IS NOT NULL')
                    assert cursor.fetchone()[0] == 0, policy.table
            else:
                assert _count(policy.table) == 0, policy.table
        assert Account.objects.count() == 0
        assert Wallet.objects.count() == 0


def test_a_fresh_connection_sees_no_rows_without_a_tenant(world):
    # A new connection starts from the thread's state: deny unless someone set a tenant or bypass.
    with rls.enforced():
        connection.close() if not connection.in_atomic_block else None
        assert Office.objects.filter(customer=world.acme.customer).count() == 0


def test_a_tenant_sees_its_own_rows_and_the_shared_ones_only(world):
    acme, globex = world.acme.customer, world.globex.customer
    with rls.tenant(acme.pk):
        assert set(Account.objects.values_list("customer_id", flat=True)) == {acme.pk}
        assert not Office.objects.filter(customer=globex).exists()
        from kontor.access.models import Role, User

        assert Role.objects.filter(customer=None).exists()  # built-in roles are shared
        assert User.objects.filter(customer=None).exists()  # staff users appear as actors
        assert not User.objects.filter(customer=globex).exists()


def test_writing_a_row_for_another_customer_is_refused(world):
    acme, globex = world.acme.customer, world.globex.customer
    with rls.tenant(acme.pk):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Office.objects.create(customer=globex, name="Smuggled")
        # Another customer's rows cannot be changed either: they are not there to update.
        assert Office.objects.filter(pk=world.globex.office.pk).update(name="Taken") == 0
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            Office.objects.filter(pk=world.acme.office.pk).update(customer=globex)
    world.globex.office.refresh_from_db()
    assert world.globex.office.name != "Taken"


def test_the_settings_are_restored_after_a_block(world):
    with rls.tenant(world.acme.customer.pk):
        with rls.bypass("test"):
            assert Account.objects.count() >= 4
        assert set(Account.objects.values_list("customer_id", flat=True)) == {world.acme.customer.pk}
    assert Account.objects.count() >= 4  # back to the tests' default


class Boom(Exception):
    pass


def _customers_seen() -> set[int]:
    return set(Account.objects.values_list("customer_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_rollback_does_not_leave_the_connection_on_another_tenant(world):
    # The backend sets the tenant only when the connection does not hold it already. A rollback undoes a
    # set_config made inside the transaction: here the connection goes back to Acme while the code is
    # still Globex's, and the next statement must set Globex again.
    acme, globex = world.acme.customer.pk, world.globex.customer.pk
    with rls.tenant(acme):
        assert _customers_seen() == {acme}
        with rls.tenant(globex):
            try:
                with transaction.atomic():
                    assert _customers_seen() == {globex}
                    raise Boom
            except Boom:
                pass
            assert _customers_seen() == {globex}
        assert _customers_seen() == {acme}


def test_the_state_is_set_once_per_change_not_per_statement(world, monkeypatch):
    sent: list[tuple[str, str]] = []
    real = rls.sync

    def counting(conn):  # type: ignore[no-untyped-def]
        before = conn.rls_applied
        real(conn)
        if conn.rls_applied != before:
            sent.append(conn.rls_applied)

    monkeypatch.setattr(rls, "sync", counting)
    acme = str(world.acme.customer.pk)
    with rls.tenant(world.acme.customer.pk):
        for _ in range(3):
            _customers_seen()
    with rls.bypass("test"), rls.bypass("another reason, the same setting"):
        _customers_seen()
    assert sent == [(acme, "off"), ("", "on")]


def test_a_customer_request_is_narrowed_to_its_customer(world, client):
    seen: list[tuple[str, str]] = []
    client.force_login(world.acme.master)

    def capture(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        if "set_config" not in sql and "current_setting" not in sql:
            with context["connection"].cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('kontor.customer_id', true), current_setting('kontor.bypass', true)"
                )
                seen.append(cursor.fetchone())
        return result

    with connection.execute_wrapper(capture):
        response = client.get("/")
    assert response.status_code == 200
    # The middleware finds the user under the bypass; the page's own queries run narrowed.
    assert seen[0] == ("", "on")
    assert (str(world.acme.customer.pk), "off") in seen, seen
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('kontor.bypass', true)")
        assert cursor.fetchone()[0] == "on"  # restored after the request


def test_an_api_key_request_is_narrowed_to_the_keys_customer(world, client):
    # Globex's office id through Acme's key: the application's scoping answers 404, and under it the
    # database would not have returned the row either.
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.acme.key_secret}"}
    ours = client.get("/api/v1/accounts", **auth)
    assert ours.status_code == 200
    ids = {row["id"] for row in ours.json()["items"]} if isinstance(ours.json(), dict) else set()
    assert world.globex.account.pk not in ids
