"""get_scoped: a foreign row, a missing row and a malformed key all answer the same NotFound."""

from __future__ import annotations

import pytest

from kontor.access.models import ApiKey, Role, User
from kontor.access.selectors import scope_for_api_key, scope_for_user
from kontor.audit.models import AuditEntry
from kontor.core.errors import NotFound
from kontor.core.scope import get_scoped, scoped
from kontor.tenancy.models import Account, CustomColumn, Membership, Office, Team

pytestmark = pytest.mark.django_db

MISSING = 987_654_321


def _message(scope, model, **lookup) -> str:
    with pytest.raises(NotFound) as exc:
        get_scoped(scope, model, **lookup)
    assert exc.value.status == 404
    assert exc.value.code == "not_found"
    return exc.value.message


def _foreign_rows(world):
    g = world.globex
    return [
        (Account, g.account.pk),
        (Office, g.office.pk),
        (Team, g.team.pk),
        (User, g.master.pk),
        (Membership, Membership.objects.filter(customer=g.customer).first().pk),
        (CustomColumn, g.columns[0].pk),
        (ApiKey, g.key.pk),
        (AuditEntry, AuditEntry.objects.filter(customer=g.customer).first().pk),
    ]


def test_foreign_and_missing_rows_give_the_same_not_found(world):
    scope = scope_for_user(world.acme.master, world.acme.account)
    for model, foreign_pk in _foreign_rows(world):
        assert model.objects.filter(pk=foreign_pk).exists()
        foreign = _message(scope, model, pk=foreign_pk)
        missing = _message(scope, model, pk=MISSING)
        assert foreign == missing, model


def test_own_rows_are_found(world):
    a = world.acme
    scope = scope_for_user(a.master, a.account)
    assert get_scoped(scope, Account, pk=a.other_account.pk) == a.other_account
    assert get_scoped(scope, Office, pk=a.office.pk) == a.office
    assert get_scoped(scope, User, pk=a.users["sender"].pk) == a.users["sender"]
    assert get_scoped(scope, CustomColumn, pk=a.columns[0].pk) == a.columns[0]
    assert get_scoped(scope, ApiKey, pk=a.key.pk) == a.key


@pytest.mark.parametrize("bad", ["abc", "", "1.5", "1; DROP TABLE x", 2**63, 2**70, -(2**70), None, [1]])
def test_malformed_keys_give_not_found_not_an_exception(world, bad):
    scope = scope_for_user(world.acme.master, world.acme.account)
    for model in (Account, User, ApiKey, CustomColumn, AuditEntry):
        _message(scope, model, pk=bad)
    # The connection is still usable (no poisoned transaction on PostgreSQL).
    assert scoped(scope, Account).count() == 2


def test_get_scoped_on_a_queryset_keeps_its_filter(world):
    a = world.acme
    scope = scope_for_user(a.master, a.account)
    active = scoped(scope, Account).filter(status=Account.Status.ACTIVE)
    assert get_scoped(scope, active, pk=a.account.pk) == a.account
    _message(scope, active, pk=world.globex.account.pk)


def test_builtin_roles_are_shared_but_custom_roles_are_not(world):
    from kontor.access.services import save_role

    globex_role = save_role(
        world.globex.customer, None, actor=world.globex.master, name="Globex only", perms=["send_sms"]
    )
    scope = scope_for_user(world.acme.master, world.acme.account)
    assert get_scoped(scope, Role, pk=Role.objects.get(customer=None, slug="sender").pk).slug == "sender"
    _message(scope, Role, pk=globex_role.pk)


def test_account_rows_are_not_visible_from_another_account_of_the_same_customer(world):
    a = world.acme
    in_sales = scope_for_user(a.master, a.account)
    in_desk = scope_for_user(a.master, a.other_account)
    assert set(scoped(in_sales, CustomColumn)) == set(a.columns)
    assert not scoped(in_desk, CustomColumn).exists()
    _message(in_desk, CustomColumn, pk=a.columns[0].pk)
    assert a.key in scoped(in_sales, ApiKey)
    assert not scoped(in_desk, ApiKey).exists()
    _message(in_desk, ApiKey, pk=a.key.pk)
    # and through a key bound to the other account
    key_scope = scope_for_api_key(world.acme.key)
    assert key_scope.account == a.account


def test_a_scope_without_account_sees_no_account_rows(world):
    from kontor.core.scope import Scope

    scope = Scope(user=None, customer=world.acme.customer, account=None)
    assert not scoped(scope, CustomColumn).exists()
    assert not scoped(scope, ApiKey).exists()
    assert scoped(scope, Office).count() == 2
