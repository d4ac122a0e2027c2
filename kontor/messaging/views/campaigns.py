"""Campaign pages: the form with a Preview step (recipients, opt-outs skipped, segments, encoding, credits
against the balance, sample renders, office hours) then Confirm and send; the list; a campaign's detail
with its messages' status counts, refreshed by htmx while any is still on its way."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import django_tables2 as tables
from django import forms
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import ScopedRequest
from kontor.contacts.models import Phonebook
from kontor.core.errors import DomainError, Forbidden
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.ledger.posting import InsufficientCredits
from kontor.ledger.services import sending_wallet
from kontor.messaging.filters import CampaignFilter
from kontor.messaging.forms.messages import in_company_zone, schedule_field
from kontor.messaging.models import Campaign, Message
from kontor.messaging.rules.officehours import window_check
from kontor.messaging.services import campaigns
from kontor.messaging.services import messages as services
from kontor.tenancy.models import Account, CustomColumn
from kontor.web.decorators import customer_view
from kontor.web.generic import Link, ListView
from kontor.web.lists import form_errors_from


def _sender(request: ScopedRequest) -> User:
    user = request.user
    if not isinstance(user, User) or user.customer_id is None:
        raise Forbidden("Only users of a customer send campaigns.")
    return user


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=campaigns.MAX_NAME)
    phonebook: forms.ModelChoiceField[Phonebook] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="— none —"
    )
    numbers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Or one mobile number per line (instead of a phonebook).",
    )
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), label="Message")
    schedule_at = schedule_field()
    office_hours = forms.ChoiceField(
        label="Outside office hours",
        choices=[("refuse", "Refuse"), ("schedule", "Schedule for the next allowed time")],
        initial="refuse",
        required=False,
        widget=forms.HiddenInput,
    )

    def __init__(self, *args: Any, scope: Scope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["phonebook"]
        field.queryset = scoped(scope, Phonebook).order_by("name")
        self.time_zone = scope.customer.time_zone

    def clean_schedule_at(self) -> dt.datetime | None:
        return in_company_zone(self.cleaned_data.get("schedule_at"), self.time_zone)

    def number_list(self) -> list[str] | None:
        lines = [n.strip() for n in (self.cleaned_data.get("numbers") or "").splitlines() if n.strip()]
        return lines or None


def _preview(account: Account, schedule_at: dt.datetime | None, args: dict[str, Any]) -> campaigns.CampaignPreview:
    """The preview, with office hours judged at the time it would go out (now, or the time asked for);
    a time that cannot be scheduled (too far ahead) is refused here already."""
    preview = campaigns.preview_campaign(account, **args)
    if schedule_at is None:
        return preview
    now = timezone.now()
    services.timing(account, now=now, schedule_at=schedule_at, office_hours="schedule")
    return dataclasses.replace(preview, office_hours=window_check(account, max(schedule_at, now)))


def _balance(user: User, scope: Scope) -> int | None:
    assert scope.account is not None
    try:
        return sending_wallet(user, scope.account).balance
    except DomainError:
        return None


@customer_view(Perm.SEND_SMS)
def campaign_new(request: ScopedRequest) -> HttpResponse:
    """GET: the form. POST without `confirm`: the preview. POST with `confirm`: send (planned again)."""
    scope, user = request.scope, _sender(request)
    account = scope.account
    assert account is not None
    form = CampaignForm(request.POST if request.method == "POST" else None, scope=scope)
    preview: campaigns.CampaignPreview | None = None
    schedule_at: dt.datetime | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        args: dict[str, Any] = {"text": data["text"], "phonebook": data["phonebook"], "numbers": form.number_list()}
        schedule_at = data.get("schedule_at")
        try:
            if "confirm" in request.POST:
                try:
                    campaign = campaigns.send_campaign(
                        account,
                        actor=user,
                        name=data["name"],
                        office_hours=data["office_hours"] or "refuse",
                        schedule_at=schedule_at,
                        **args,
                    )
                    return redirect("messaging:campaign_detail", pk=campaign.pk)
                except services.OutsideOfficeHours as refused:
                    # Keep the preview, so that choosing "schedule" is one more click on Confirm.
                    form_errors_from(form, refused)
                    preview = _preview(account, schedule_at, args)
            else:
                preview = _preview(account, schedule_at, args)
        except InsufficientCredits as exc:
            form.add_error(None, exc.message)
        except DomainError as exc:
            form_errors_from(form, exc)
        # Outside the window (in the preview, or refused on confirm): the user chooses refuse or schedule.
        if (preview is not None and not preview.office_hours.allowed) or "office_hours" in form.errors:
            form.fields["office_hours"].widget = forms.RadioSelect(choices=form.fields["office_hours"].choices)  # type: ignore[attr-defined]
    context = {
        "form": form,
        "preview": preview,
        "schedule_at": schedule_at,
        "balance": _balance(user, scope),
        "columns": list(scoped(scope, CustomColumn).order_by("position")),
        "account": account,
    }
    return render(request, "messaging/campaign_form.html", context)


class CampaignTable(tables.Table):
    created_at = tables.DateTimeColumn(verbose_name="Created", format="Y-m-d H:i")
    name = tables.Column("Name")
    recipients_count = tables.Column("Recipients", attrs={"td": {"class": "num"}})
    credits_total = tables.Column("Credits", attrs={"td": {"class": "num"}})
    status = tables.Column("Status")
    scheduled_for = tables.DateTimeColumn(verbose_name="Scheduled for", format="Y-m-d H:i")

    class Meta:
        model = Campaign
        fields = ("created_at", "name", "recipients_count", "credits_total", "status", "scheduled_for")
        order_by = ("-created_at",)

    def render_name(self, record: Campaign, value: str) -> str:
        return format_html('<a href="{}">{}</a>', reverse("messaging:campaign_detail", args=[record.pk]), value)


@customer_view(Perm.SEND_SMS)
class CampaignList(ListView):
    title = _("Campaigns")
    table_class = CampaignTable
    filterset_class = CampaignFilter
    actions = [Link(_("New campaign"), "messaging:campaign_new")]

    def get_queryset(self) -> QuerySet[Campaign]:
        return scoped(self.scope, Campaign).order_by("-created_at", "-id")


@customer_view(Perm.SEND_SMS)
def campaign_detail(request: ScopedRequest, pk: int) -> HttpResponse:
    """With `HX-Request`: only the status counts (the page polls them every 2 s while any is active)."""
    scope = request.scope
    campaign = get_scoped(scope, Campaign, pk=pk)
    counts = campaigns.status_counts(campaigns.campaign_messages(scoped(scope, Message), campaign))
    context = {
        "campaign": campaign,
        "counts": counts,
        "active": campaigns.is_active(counts),
        "tz": scope.customer.time_zone,
    }
    if request.headers.get("HX-Request"):
        return render(request, "messaging/campaign_counts.html", context)
    return render(request, "messaging/campaign_detail.html", context)
