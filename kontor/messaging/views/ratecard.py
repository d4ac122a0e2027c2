"""Staff pages: the rate card (credits per segment by destination prefix)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.perms import Perm
from kontor.messaging.forms.ratecard import RateForm
from kontor.messaging.models import RateCardEntry
from kontor.messaging.services.ratecard import delete_rate, save_rate
from kontor.web.decorators import staff_view
from kontor.web.generic import ConfirmView, EditView


@staff_view(Perm.STAFF_MANAGE_BILLING)
def rates(request: HttpRequest) -> HttpResponse:
    return render(request, "messaging/rates.html", {"entries": RateCardEntry.objects.all()})


@staff_view(Perm.STAFF_MANAGE_BILLING)
class RateEdit(EditView[RateCardEntry]):
    model = RateCardEntry
    catalogue = True
    form_class = RateForm
    add_title = _("Add a rate")
    success_url = "messaging:rates"

    def get_title(self, entry: RateCardEntry | None) -> str:
        return gettext("Rate for %(entry)s") % {"entry": entry} if entry is not None else str(self.add_title)

    def get_initial(self, entry: RateCardEntry) -> dict[str, Any]:
        return {
            "prefix": entry.prefix,
            "country": entry.country,
            "operator": entry.operator,
            "credits_per_segment": entry.credits_per_segment,
        }

    def save(self, form: RateForm, entry: RateCardEntry | None) -> RateCardEntry:
        return save_rate(entry, actor=self.actor, **form.cleaned_data)

    def get_success_message(self, saved: RateCardEntry) -> str:
        return gettext("Rate for %(entry)s saved: %(credits)s credits per segment.") % {
            "entry": saved,
            "credits": saved.credits_per_segment,
        }


@staff_view(Perm.STAFF_MANAGE_BILLING)
class RateDelete(ConfirmView[RateCardEntry]):
    model = RateCardEntry
    catalogue = True
    question = _("Destinations it priced fall back to a shorter prefix or the default.")
    confirm_label = _("Delete")
    done_url = "messaging:rates"

    def get_title(self, entry: RateCardEntry) -> str:
        return gettext("Delete the rate for %(entry)s?") % {"entry": entry}

    def act(self, entry: RateCardEntry) -> None:
        delete_rate(entry, actor=self.actor)

    def get_done_message(self, entry: RateCardEntry, result: None) -> str:
        return gettext("Rate for %(entry)s deleted.") % {"entry": entry}
