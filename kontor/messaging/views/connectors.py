"""Staff pages for connectors: list, add, edit, enable/disable, and the connector of each of a
customer's accounts. Secrets are never rendered back, only whether each is set."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext

from kontor.access.requests import StaffRequest
from kontor.access.selectors import staff_scope
from kontor.core.errors import DomainError, NotFound
from kontor.core.scope import get_scoped
from kontor.messaging.connectors import kinds
from kontor.messaging.forms.connectors import ConnectorForm, RouteForm
from kontor.messaging.models import ConnectorConfig, ResubmitPolicy
from kontor.messaging.selectors import connectors as selectors
from kontor.messaging.services.connectors import MANAGE, UNSET, create_connector, route_account, update_connector
from kontor.tenancy.models import Account
from kontor.tenancy.selectors import get_customer, subscriber_pk
from kontor.web.decorators import staff_view
from kontor.web.generic import ConfirmView


@staff_view(MANAGE)
def connectors(request: StaffRequest) -> HttpResponse:
    subscriber = request.GET.get("subscriber", "").strip()
    if subscriber:
        pk = subscriber_pk(subscriber)
        try:
            return redirect("messaging:connector_routes", get_customer(pk or 0).pk)
        except NotFound:
            messages.error(request, f"No customer has the subscriber ID “{subscriber[:40]}”.")
    rows = [(c, kinds.unavailable(c.kind)) for c in selectors.connectors()]
    return render(
        request,
        "messaging/connectors.html",
        {"rows": rows, "kinds": kinds.KINDS.values(), "fallback": selectors.fallback_name()},
    )


def _form_page(request: StaffRequest, form: ConnectorForm, title: str, **extra: Any) -> HttpResponse:
    context = {
        "form": form,
        "title": title,
        "kind": form.kind_spec,
        "unavailable": kinds.unavailable(form.kind_spec.kind),
        "cancel_url": reverse("messaging:connectors"),
        **extra,
    }
    return render(request, "messaging/connector_form.html", context)


@staff_view(MANAGE)
def connector_add(request: StaffRequest) -> HttpResponse:
    kind = request.GET.get("kind", "")
    if kind not in kinds.KINDS:
        return render(request, "messaging/connector_kind.html", {"kinds": kinds.KINDS.values()})
    form = ConnectorForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        try:
            config = create_connector(
                actor=request.user,
                name=form.cleaned_data["name"],
                kind=kind,
                description=form.cleaned_data["description"],
                enabled=form.cleaned_data["enabled"],
                is_default=form.cleaned_data["is_default"],
                resubmit_policy=form.cleaned_data["resubmit_policy"] or ResubmitPolicy.FAIL,
                options=form.options(),
                secrets=form.secret_changes(),
            )
        except DomainError as exc:
            form.place_errors(exc)
        else:
            messages.success(request, f"Connector “{config.name}” added.")
            return redirect("messaging:connectors")
    return _form_page(request, form, f"Add a {kinds.spec(kind).label} connector")


@staff_view(MANAGE)
def connector_edit(request: StaffRequest, pk: int) -> HttpResponse:
    config = selectors.connector_for_staff(pk)
    form = ConnectorForm(request.POST or None, kind=config.kind, config=config)
    if request.method == "POST" and form.is_valid():
        try:
            update_connector(
                config,
                actor=request.user,
                description=form.cleaned_data["description"],
                enabled=form.cleaned_data["enabled"],
                is_default=form.cleaned_data["is_default"],
                resubmit_policy=form.cleaned_data["resubmit_policy"] or UNSET,
                options=form.options(),
                secrets=form.secret_changes(),
            )
        except DomainError as exc:
            form.place_errors(exc)
        else:
            messages.success(request, f"Connector “{config.name}” saved.")
            return redirect("messaging:connectors")
    return _form_page(
        request,
        form,
        f"Connector {config.name}",
        config=config,
        accounts=selectors.routed_accounts(config),
        dlr_url=request.build_absolute_uri(reverse("api:connector_dlr", args=[config.name]))
        if config.kind == "http"
        else "",
    )


@staff_view(MANAGE)
class ConnectorEnabled(ConfirmView[ConnectorConfig]):
    """GET asks, POST does; `?to=on|off` says which (default: the opposite of now), so that two people
    clicking at once do not switch it back and forth."""

    done_url = "messaging:connectors"

    def get_object(self) -> ConnectorConfig:
        return selectors.connector_for_staff(self.kwargs["pk"])

    def wanted(self, config: ConnectorConfig) -> bool:
        return {"on": True, "off": False}.get(self.request.GET.get("to", ""), not config.enabled)

    def get_title(self, config: ConnectorConfig) -> str:
        if self.wanted(config):
            return gettext("Enable the connector %(name)s?") % {"name": config.name}
        return gettext("Disable the connector %(name)s?") % {"name": config.name}

    def get_question(self, config: ConnectorConfig) -> str:
        if self.wanted(config):
            return gettext("Queued messages of the accounts that use it are sent again.")
        if config.is_default:
            return gettext(
                "Messages of the %(count)s account(s) routed to it and of every account without a connector of "
                "its own wait in the queue until it is enabled again; they are not sent elsewhere."
            ) % {"count": getattr(config, "route_count", 0)}
        return gettext(
            "Messages of the %(count)s account(s) routed to it wait in the queue until it is enabled again; "
            "they are not sent elsewhere."
        ) % {"count": getattr(config, "route_count", 0)}

    def get_confirm_label(self, config: ConnectorConfig) -> str:
        return gettext("Enable") if self.wanted(config) else gettext("Disable")

    def act(self, config: ConnectorConfig) -> bool:
        wanted = self.wanted(config)
        update_connector(config, actor=self.actor, enabled=wanted)
        return wanted

    def get_done_message(self, config: ConnectorConfig, enabled: bool) -> str:
        message = gettext("Connector “%(name)s” enabled.") if enabled else gettext("Connector “%(name)s” disabled.")
        return message % {"name": config.name}


@staff_view(MANAGE)
def connector_routes(request: StaffRequest, pk: int) -> HttpResponse:
    """The connector of each account of one customer; each row posts its own choice."""
    customer = get_customer(pk)
    actor = request.user
    scope = staff_scope(actor, customer)
    configs = list(selectors.connectors())
    default_label = f"Provider default ({selectors.default_name()})"
    if request.method == "POST":
        form = RouteForm(request.POST, connectors=configs, default_label=default_label)
        if form.is_valid():
            try:
                account = get_scoped(scope, Account, pk=form.cleaned_data["account"])
                chosen = next((c for c in configs if c.name == form.cleaned_data["connector"]), None)
                route_account(account, chosen, actor=actor)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                where = chosen.name if chosen is not None else "the provider's default connector"
                messages.success(request, f"{account.name} now sends through {where}.")
                return redirect("messaging:connector_routes", customer.pk)
        else:
            messages.error(request, "Choose one of the connectors listed.")
    rows = [
        (
            row,
            RouteForm(
                initial={"account": row.account.pk, "connector": row.connector.name if row.connector else ""},
                connectors=configs,
                default_label=default_label,
                auto_id=f"id_route_{row.account.pk}_%s",
            ),
        )
        for row in selectors.routes_of(scope)
    ]
    return render(request, "messaging/connector_routes.html", {"customer": customer, "rows": rows})
