"""Creating an account is no way to promote oneself: the creator keeps the role they work with."""

from kontor.access.models import Role
from kontor.access.selectors import perms_in_account
from kontor.tenancy.models import Membership
from kontor.tenancy.services import create_account


def test_creator_gets_the_role_they_hold_in_the_account_they_work_in(world):
    narrow = Role.objects.create(customer=world.acme.customer, name="Account maker", perms=["create_accounts"])
    maker = world.acme.users["sender"]
    Membership.objects.filter(user=maker, account=world.acme.account).update(role=narrow)
    account = create_account(world.acme.customer, actor=maker, name="Escalate", creator_from=world.acme.account)
    assert Membership.objects.get(account=account, user=maker).role == narrow
    assert {p.value for p in perms_in_account(maker, account)} == {"create_accounts"}


def test_creator_without_a_source_account_gets_no_membership(world):
    account = create_account(world.acme.customer, actor=world.acme.users["administrator"], name="Bare")
    assert not Membership.objects.filter(account=account).exists()
