"""A fixed world of two customers, each with two accounts, offices, a team and one user per built-in
role, plus one provider staff user per staff role. Names are stable so tests read like the manuals.

On top of it, the numbers (`build_numbers`): Acme's Sales and Support desk share the two-way long code
SHARED; Globex's Sales has the dedicated number DEDICATED; Acme also holds a short code and a one-way
number."""

from __future__ import annotations

from dataclasses import dataclass, field

from kontor.access.models import ApiKey, Role, User
from kontor.access.perms import BUILTIN_ROLES, StaffRole
from kontor.access.services import create_api_key
from kontor.numbers import services as number_services
from kontor.numbers.models import Number
from kontor.tenancy.models import Account, CostCenter, CustomColumn, Customer, Membership, Office, Team
from tests.factories import PASSWORD

ROLE_SLUGS = [slug for slug in BUILTIN_ROLES if slug != "master"]


@dataclass
class CustomerWorld:
    customer: Customer
    account: Account  # "Sales": every role user is a member here
    other_account: Account  # "Support desk": only the administrator and master reach it
    office: Office
    branch: Office
    team: Team
    master: User
    users: dict[str, User]  # by built-in role slug
    key: ApiKey
    key_secret: str
    columns: list[CustomColumn] = field(default_factory=list)

    def user(self, slug: str) -> User:
        return self.master if slug == "master" else self.users[slug]


@dataclass
class World:
    acme: CustomerWorld
    globex: CustomerWorld
    staff: dict[str, User]
    cost_center: CostCenter
    password: str = PASSWORD


def _role(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


def _user(customer: Customer, email: str, first: str, last: str, **extra: object) -> User:
    user = User(
        customer=customer,
        email=email,
        first_name=first,
        last_name=last,
        time_zone=customer.time_zone,
        **extra,
    )
    user.set_password(PASSWORD)
    user.set_pin("4321")
    user.security_question = "First pet?"
    user.set_security_answer("Rex")
    user.save()
    return user


def _customer(name: str, domain: str, country: str, tz: str, cost_center: CostCenter) -> CustomerWorld:
    customer = Customer.objects.create(name=name, billing_id=f"{domain}-001", time_zone=tz, country=country)
    office = Office.objects.create(customer=customer, name=f"{name} HQ")
    branch = Office.objects.create(customer=customer, name=f"{name} Branch")
    team = Team.objects.create(customer=customer, name=f"{name} Team", office=office)
    account = Account.objects.create(customer=customer, name="Sales", cost_center=cost_center)
    other = Account.objects.create(customer=customer, name="Support desk")
    columns = [
        CustomColumn.objects.create(customer=customer, account=account, position=i, name=n)
        for i, n in enumerate(["Name", "Surname"], start=1)
    ]
    master = _user(customer, f"master@{domain}", "Mia", "Master", is_master=True, primary_office=office)
    users: dict[str, User] = {}
    for slug in ROLE_SLUGS:
        users[slug] = _user(
            customer,
            f"{slug}@{domain}",
            slug.replace("_", " ").title(),
            name,
            primary_office=office,
            team=team,
        )
        Membership.objects.create(customer=customer, account=account, user=users[slug], role=_role(slug))
    Membership.objects.create(
        customer=customer, account=other, user=users["administrator"], role=_role("administrator")
    )
    users["office_credit_manager"].additional_offices.add(branch)
    issued = create_api_key(
        account,
        actor=master,
        name="Integration",
        perms=["view_users", "manage_accounts", "view_audit", "send_sms"],
    )
    return CustomerWorld(
        customer=customer,
        account=account,
        other_account=other,
        office=office,
        branch=branch,
        team=team,
        master=master,
        users=users,
        key=issued.key,
        key_secret=issued.secret,
        columns=columns,
    )


def build_world() -> World:
    cost_center = CostCenter.objects.create(code="CC-GEN", name="General")
    acme = _customer("Acme", "acme.test", "SE", "Europe/Stockholm", cost_center)
    globex = _customer("Globex", "globex.test", "GB", "Europe/London", cost_center)
    staff = {}
    for role in StaffRole:
        user = User(
            email=f"{role.value}@provider.test",
            first_name=role.label,
            last_name="Staff",
            is_staff=True,
            staff_role=role.value,
        )
        user.set_password(PASSWORD)
        user.save()
        staff[role.value] = user
    return World(acme=acme, globex=globex, staff=staff, cost_center=cost_center)


SHARED = "+46701110001"
DEDICATED = "+447700900123"
SHORT = "72000"
ONE_WAY = "+46701110009"
SPARE = "+46701110005"


@dataclass
class Nums:
    staff: User
    shared: Number
    dedicated: Number
    short: Number
    one_way: Number
    spare: Number  # in the inventory, not assigned


def _add(staff: User, value: str, kind: str, country: str, two_way: bool = True) -> Number:
    return number_services.add_number(actor=staff, value=value, kind=kind, country=country, two_way=two_way)


def build_numbers(world: World) -> Nums:
    staff = world.staff["tam"]
    acme, globex = world.acme, world.globex
    shared = _add(staff, SHARED, "long_code", "SE")
    dedicated = _add(staff, DEDICATED, "long_code", "GB")
    short = _add(staff, SHORT, "short_code", "SE")
    one_way = _add(staff, ONE_WAY, "long_code", "SE", two_way=False)
    spare = _add(staff, SPARE, "dnis", "SE")
    for number in (shared, short, one_way):
        number_services.assign_number(number, acme.customer.subscriber_id, actor=staff)
    number_services.assign_number(dedicated, globex.customer.pk, actor=staff)
    number_services.set_account_number(acme.account, shared, actor=acme.master)
    number_services.set_account_number(acme.other_account, shared, actor=acme.master)
    number_services.set_account_number(globex.account, dedicated, actor=globex.master)
    return Nums(
        staff=staff,
        shared=Number.objects.get(pk=shared.pk),
        dedicated=Number.objects.get(pk=dedicated.pk),
        short=Number.objects.get(pk=short.pk),
        one_way=Number.objects.get(pk=one_way.pk),
        spare=spare,
    )
