"""Reads for the connector staff pages and API: connectors, and which connector each account uses.
Provider-level; the accounts of one customer are reached through its staff scope."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, QuerySet

from kontor.access.models import User
from kontor.access.selectors import staff_scope
from kontor.core.errors import NotFound
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.messaging.connectors import BUILTIN
from kontor.messaging.models import AccountRoute, ConnectorConfig
from kontor.tenancy.models import Account, Customer


def connectors() -> QuerySet[ConnectorConfig]:
    """Every connector, with `route_count` (the accounts routed to it)."""
    return ConnectorConfig.objects.annotate(route_count=Count("routes")).order_by("name")


def connector_for_staff(pk: int) -> ConnectorConfig:
    config = connectors().filter(pk=pk).first()
    if config is None:
        raise NotFound("connector")
    return config


def connector_named(name: str) -> ConnectorConfig | None:
    return ConnectorConfig.objects.filter(name=name).first()


def customer_for_staff(pk: int) -> Customer:
    customer = Customer.objects.filter(pk=pk).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def account_for_staff(actor: User, customer_id: int, account_id: int) -> Account:
    """The account inside its customer (the customer from the path first, then the account in that
    customer's staff scope), so another customer's account answers 404 like a missing one."""
    scope = staff_scope(actor, customer_for_staff(customer_id))
    return get_scoped(scope, scoped(scope, Account).select_related("customer"), pk=account_id)


def fallback_name() -> str:
    """Where accounts send when no connector is the default: settings.KONTOR_CONNECTOR, if it names a
    connector, else the built-in simulator."""
    name = getattr(settings, "KONTOR_CONNECTOR", BUILTIN) or BUILTIN
    return name if name == BUILTIN or ConnectorConfig.objects.filter(name=name).exists() else BUILTIN


def default_name() -> str:
    """Where accounts without a route send: the default connector, else the fallback."""
    default = ConnectorConfig.objects.filter(is_default=True).values_list("name", flat=True).first()
    return default or fallback_name()


@dataclass(frozen=True)
class AccountConnector:
    account: Account
    connector: ConnectorConfig | None  # chosen for this account; None: the default
    effective: str  # the name its traffic goes through


def routes_of(scope: Scope) -> list[AccountConnector]:
    """The customer's accounts (staff scope) and the connector of each."""
    accounts = list(scoped(scope, Account).select_related("customer").order_by("status", "name"))
    routes, fallback = _routes([a.pk for a in accounts]), default_name()
    return [_with_route(account, routes, fallback) for account in accounts]


def _routes(account_ids: list[int]) -> dict[int, ConnectorConfig]:
    rows = AccountRoute.objects.filter(account_id__in=account_ids).select_related("connector")
    return {row.account_id: row.connector for row in rows}


def _with_route(account: Account, routes: dict[int, ConnectorConfig], fallback: str | None = None) -> AccountConnector:
    chosen = routes.get(account.pk)
    return AccountConnector(account, chosen, chosen.name if chosen is not None else (fallback or default_name()))


def route_of(account: Account) -> AccountConnector:
    return _with_route(account, _routes([account.pk]))


def routed_accounts(config: ConnectorConfig, limit: int = 200) -> list[Account]:
    """The accounts routed to a connector (with their customer), for its page."""
    ids = AccountRoute.objects.filter(connector=config).values("account_id")
    return list(
        Account.objects.select_related("customer").filter(pk__in=ids).order_by("customer__name", "name")[:limit]
    )
