"""Numbers on top of the fixed world: Acme's Sales and Support desk share the two-way long code SHARED;
Globex's Sales has the dedicated number DEDICATED; Acme also holds a short code and a one-way number."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kontor.access.models import User
from kontor.numbers import services
from kontor.numbers.models import Number
from tests.world import World

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
    return services.add_number(actor=staff, value=value, kind=kind, country=country, two_way=two_way)


@pytest.fixture
def nums(world: World) -> Nums:
    staff = world.staff["tam"]
    acme, globex = world.acme, world.globex
    shared = _add(staff, SHARED, "long_code", "SE")
    dedicated = _add(staff, DEDICATED, "long_code", "GB")
    short = _add(staff, SHORT, "short_code", "SE")
    one_way = _add(staff, ONE_WAY, "long_code", "SE", two_way=False)
    spare = _add(staff, SPARE, "dnis", "SE")
    for number in (shared, short, one_way):
        services.assign_number(number, acme.customer.subscriber_id, actor=staff)
    services.assign_number(dedicated, globex.customer.pk, actor=staff)
    services.set_account_number(acme.account, shared, actor=acme.master)
    services.set_account_number(acme.other_account, shared, actor=acme.master)
    services.set_account_number(globex.account, dedicated, actor=globex.master)
    return Nums(
        staff=staff,
        shared=Number.objects.get(pk=shared.pk),
        dedicated=Number.objects.get(pk=dedicated.pk),
        short=Number.objects.get(pk=short.pk),
        one_way=Number.objects.get(pk=one_way.pk),
        spare=spare,
    )
