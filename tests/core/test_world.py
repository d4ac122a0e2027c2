import pytest

from kontor.access.selectors import scope_for_user
from kontor.audit.models import AuditEntry
from kontor.core.errors import NotFound
from kontor.core.scope import get_scoped, scoped
from kontor.tenancy.models import Account


def test_world_scopes_do_not_cross(world):
    scope = scope_for_user(world.acme.users["sender"], world.acme.account)
    assert scope is not None and scope.has("send_sms") and not scope.has("manage_users")
    assert set(scoped(scope, Account)) == {world.acme.account, world.acme.other_account}
    with pytest.raises(NotFound):
        get_scoped(scope, Account, pk=world.globex.account.pk)
    assert AuditEntry.objects.filter(action="api_key.create", customer=world.acme.customer).count() == 1
