from django.urls import include, path

from kontor.api.urls import api
from kontor.billing import urls as billing_urls
from kontor.ledger import urls as ledger_urls

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("kontor.web.urls")),
    path("", include("kontor.access.urls")),
    path("", include("kontor.tenancy.urls")),
    path("audit/", include("kontor.audit.urls")),
    path("staff/", include("kontor.staff.urls")),
    path("numbers/", include("kontor.numbers.urls")),
    path("contacts/", include("kontor.contacts.urls")),
    path("messages/", include("kontor.messaging.urls")),
    path(
        "credits/",
        include(([*ledger_urls.urlpatterns, *billing_urls.credits_urlpatterns], ledger_urls.app_name)),
    ),
    path("billing/", include("kontor.billing.urls")),
]

handler400 = "kontor.web.errors.bad_request"
handler404 = "kontor.web.errors.not_found"
handler403 = "kontor.web.errors.forbidden"
handler500 = "kontor.web.errors.server_error"
