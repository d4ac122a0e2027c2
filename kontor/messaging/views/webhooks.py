"""The webhook settings page of an account (URL, on/off, secret, a test event) with its delivery log."""

from __future__ import annotations

from typing import Any

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html

from kontor.access.perms import Perm
from kontor.core.errors import DomainError
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.messaging.delivery.webhooks import configure_webhook, retry_now, rotate_secret, send_test_event
from kontor.messaging.models import Webhook, WebhookDelivery
from kontor.web.decorators import customer_view
from kontor.web.lists import form_errors_from, list_page


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=500,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/kontor/inbound"}),
        help_text="Inbound messages are POSTed here as JSON, signed with the secret below.",
    )
    active = forms.BooleanField(label="Active", required=False, initial=True)


class DeliveryTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Time", format="Y-m-d H:i:s")
    event = tables.Column("Event")
    status = tables.Column("Status")
    attempts = tables.Column("Attempts", attrs={"td": {"class": "num"}})
    last_status_code = tables.Column("Last code", default="")
    last_error = tables.Column("Last error", default="")
    next_attempt_at = tables.DateTimeColumn(verbose_name="Next attempt", format="Y-m-d H:i:s", default="")
    retry = tables.Column("", empty_values=(), orderable=False)

    class Meta:
        model = WebhookDelivery
        fields = ("created_at", "event", "status", "attempts", "last_status_code", "last_error", "next_attempt_at")
        sequence = (*fields, "retry")
        order_by = ("-created_at",)
        empty_text = "Nothing was sent yet."
        attrs = {"id": "deliveries"}

    def render_retry(self, record: WebhookDelivery) -> Any:
        if record.status == WebhookDelivery.State.DELIVERED:
            return ""
        url = reverse("messaging:webhook_delivery_retry", args=[record.pk])
        return format_html('<a href="{}">Retry now</a>', url)


class DeliveryFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=WebhookDelivery.State.choices, label="Status")

    class Meta:
        model = WebhookDelivery
        fields = ["status"]


def _scope(request: HttpRequest) -> Scope:
    return request.scope  # type: ignore[attr-defined,no-any-return]


@customer_view(Perm.TECHNICAL_SETTINGS)
def webhooks(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    webhook = scoped(scope, Webhook).first()
    initial = {"url": webhook.url, "active": webhook.active} if webhook is not None else {"active": True}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        assert scope.account is not None
        try:
            configure_webhook(
                scope.account, actor=scope.actor, url=form.cleaned_data["url"], active=form.cleaned_data["active"]
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            messages.success(request, "Webhook saved.")
            return redirect("messaging:webhooks")
    return list_page(
        request,
        title="Webhook",
        queryset=scoped(scope, WebhookDelivery),
        table_class=DeliveryTable,
        filterset_class=DeliveryFilter,
        template="messaging/webhooks.html",
        extra={"form": form, "webhook": webhook},
    )


@customer_view(Perm.TECHNICAL_SETTINGS)
def webhook_test(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    webhook = get_scoped(scope, Webhook, account=scope.account)
    if request.method == "POST":
        try:
            send_test_event(webhook, actor=scope.actor)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Test event sent; its outcome is in the delivery log.")
        return redirect("messaging:webhooks")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Send a test event?",
            "question": f"A signed “webhook.test” event is POSTed to {webhook.url}.",
            "confirm_label": "Send",
            "cancel_url": reverse("messaging:webhooks"),
        },
    )


@customer_view(Perm.TECHNICAL_SETTINGS)
def webhook_rotate(request: HttpRequest) -> HttpResponse:
    scope = _scope(request)
    webhook = get_scoped(scope, Webhook, account=scope.account)
    if request.method == "POST":
        try:
            rotate_secret(webhook, actor=scope.actor)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "New secret made; update your receiver.")
        return redirect("messaging:webhooks")
    return render(
        request,
        "web/confirm.html",
        {
            "title": "Make a new secret?",
            "question": "The current secret stops working at once; signatures your receiver checks will fail "
            "until it has the new one.",
            "confirm_label": "Make a new secret",
            "cancel_url": reverse("messaging:webhooks"),
        },
    )


@customer_view(Perm.TECHNICAL_SETTINGS)
def webhook_delivery_retry(request: HttpRequest, pk: int) -> HttpResponse:
    scope = _scope(request)
    delivery = get_scoped(scope, WebhookDelivery, pk=pk)
    if request.method == "POST":
        try:
            retry_now(delivery, actor=scope.actor)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Retried; the outcome is in the delivery log.")
        return redirect("messaging:webhooks")
    return render(
        request,
        "web/confirm.html",
        {
            "title": f"Retry {delivery}?",
            "question": f"The {delivery.event} event is sent again now (attempts so far: {delivery.attempts}).",
            "confirm_label": "Retry now",
            "cancel_url": reverse("messaging:webhooks"),
        },
    )
