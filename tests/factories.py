from __future__ import annotations

import factory

from kontor.access.models import Role, User
from kontor.tenancy.models import Account, CostCenter, Customer, Feature, Membership, Office, Team

PASSWORD = "correct-horse-battery-9"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    billing_id = factory.Sequence(lambda n: f"B-{n:05d}")
    time_zone = "Europe/Stockholm"
    country = "SE"


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Account {n}")


class OfficeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Office

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Office {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class CostCenterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CostCenter

    code = factory.Sequence(lambda n: f"CC{n:03d}")
    name = factory.Sequence(lambda n: f"Cost center {n}")


class FeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feature

    code = factory.Sequence(lambda n: f"feature-{n}")
    name = factory.Sequence(lambda n: f"Feature {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    customer = factory.SubFactory(CustomerFactory)
    time_zone = "Europe/Stockholm"

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save()


class StaffFactory(UserFactory):
    customer = None
    is_staff = True
    staff_role = "csr"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    account = factory.SubFactory(AccountFactory)
    customer = factory.SelfAttribute("account.customer")
    user = factory.SubFactory(UserFactory, customer=factory.SelfAttribute("..account.customer"))
    role = factory.LazyFunction(lambda: Role.objects.get(customer=None, slug="sender"))
