from django.urls import include, path

from kontor.messaging import (
    views,
    views_campaigns,
    views_inbox,
    views_rates,
    views_send_rate,
    views_staff,
    views_webhooks,
)

app_name = "messaging"
urlpatterns = [
    path("send/", views.send, name="send"),
    path("send/counter/", views.counter, name="counter"),
    path("sent/<int:pk>/", views.sent, name="sent"),
    path("", views.transactions, name="transactions"),
    path("inbox/", views_inbox.inbox, name="inbox"),
    path("export.csv", views.export, name="export"),
    path("<int:pk>/", views.message, name="message"),
    path("campaigns/", views_campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", views_campaigns.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views_campaigns.campaign_detail, name="campaign_detail"),
    path("rates/", views_rates.rates, name="rates"),
    path("rates/add/", views_rates.rate_add, name="rate_add"),
    path("rates/<int:pk>/", views_rates.rate_edit, name="rate_edit"),
    path("rates/<int:pk>/delete/", views_rates.rate_delete, name="rate_delete"),
    path("webhook/", views_webhooks.webhooks, name="webhooks"),
    path("webhook/test/", views_webhooks.webhook_test, name="webhook_test"),
    path("webhook/secret/", views_webhooks.webhook_rotate, name="webhook_rotate"),
    path("webhook/deliveries/<int:pk>/retry/", views_webhooks.webhook_delivery_retry, name="webhook_delivery_retry"),
    path("staff/inbound-rejections/", views_staff.inbound_rejections, name="inbound_rejections"),
    path(
        "staff/inbound-rejections/export.csv",
        views_staff.inbound_rejections_export,
        name="inbound_rejections_export",
    ),
    path(
        "staff/customers/<int:pk>/accounts/<int:account_pk>/send-rate/",
        views_send_rate.send_rate,
        name="staff_send_rate",
    ),
    path(
        "staff/customers/<int:pk>/accounts/<int:account_pk>/send-rate/set/",
        views_send_rate.send_rate_set,
        name="staff_send_rate_set",
    ),
    path("staff/connectors/", include("kontor.messaging.urls_connectors")),
]
