"""The webhook settings page of an account (URL, on/off, secret, a test event) with its delivery log."""

from __future__ import annotations

from typing import Any

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest
from kontor.core.errors import DomainError
from kontor.core.scope import get_scoped, scoped
from kontor.messaging.delivery.webhooks import configure_webhook, retry_now, rotate_secret, send_test_event
from kontor.messaging.models import Webhook, WebhookDelivery
from kontor.web.decorators import customer_view
from kontor.web.generic import ConfirmView
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


@customer_view(Perm.TECHNICAL_SETTINGS)
def webhooks(request: ScopedRequest) -> HttpResponse:
    scope = request.scope
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


class _WebhookConfirm(ConfirmView[Webhook]):
    done_url = "messaging:webhooks"

    def get_object(self) -> Webhook:
        return get_scoped(self.scope, Webhook, account=self.scope.account)


@customer_view(Perm.TECHNICAL_SETTINGS)
class WebhookTest(_WebhookConfirm):
    title = _("Send a test event?")
    question = _("A signed “webhook.test” event is POSTed to %(url)s.")
    confirm_label = _("Send")
    done_message = _("Test event sent; its outcome is in the delivery log.")

    def act(self, webhook: Webhook) -> None:
        send_test_event(webhook, actor=self.actor)


@customer_view(Perm.TECHNICAL_SETTINGS)
class WebhookRotate(_WebhookConfirm):
    title = _("Make a new secret?")
    question = _(
        "The current secret stops working at once; signatures your receiver checks will fail until it has the new one."
    )
    confirm_label = _("Make a new secret")
    done_message = _("New secret made; update your receiver.")

    def act(self, webhook: Webhook) -> None:
        rotate_secret(webhook, actor=self.actor)


@customer_view(Perm.TECHNICAL_SETTINGS)
class WebhookDeliveryRetry(ConfirmView[WebhookDelivery]):
    model = WebhookDelivery
    question = _("The %(event)s event is sent again now (attempts so far: %(attempts)s).")
    confirm_label = _("Retry now")
    done_message = _("Retried; the outcome is in the delivery log.")
    done_url = "messaging:webhooks"

    def get_title(self, delivery: WebhookDelivery) -> str:
        return gettext("Retry %(delivery)s?") % {"delivery": delivery}

    def act(self, delivery: WebhookDelivery) -> None:
        retry_now(delivery, actor=self.actor)
