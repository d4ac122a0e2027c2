"""The messaging pages, by topic (the views/ package); names and paths are what templates and tests
reverse, under the `messaging` namespace."""

from django.urls import include, path

from kontor.messaging.views import campaigns, connectors, inbox, messages, ratecard, rejections, sendrate, webhooks

app_name = "messaging"

# Staff pages for connectors, under staff/connectors/ (names in the messaging namespace).
connector_patterns = [
    path("", connectors.connectors, name="connectors"),
    path("add/", connectors.connector_add, name="connector_add"),
    path("<int:pk>/", connectors.connector_edit, name="connector_edit"),
    path("<int:pk>/enabled/", connectors.ConnectorEnabled.as_view(), name="connector_enabled"),
    path("customers/<int:pk>/", connectors.connector_routes, name="connector_routes"),
]

urlpatterns = [
    path("send/", messages.send, name="send"),
    path("send/counter/", messages.counter, name="counter"),
    path("sent/<int:pk>/", messages.sent, name="sent"),
    path("", messages.transactions, name="transactions"),
    path("inbox/", inbox.Inbox.as_view(), name="inbox"),
    path("export.csv", messages.export, name="export"),
    path("<int:pk>/", messages.message, name="message"),
    path("campaigns/", campaigns.CampaignList.as_view(), name="campaigns"),
    path("campaigns/new/", campaigns.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign_detail"),
    path("rates/", ratecard.rates, name="rates"),
    path("rates/add/", ratecard.RateEdit.as_view(), name="rate_add"),
    path("rates/<int:pk>/", ratecard.RateEdit.as_view(), name="rate_edit"),
    path("rates/<int:pk>/delete/", ratecard.RateDelete.as_view(), name="rate_delete"),
    path("webhook/", webhooks.webhooks, name="webhooks"),
    path("webhook/test/", webhooks.WebhookTest.as_view(), name="webhook_test"),
    path("webhook/secret/", webhooks.WebhookRotate.as_view(), name="webhook_rotate"),
    path("webhook/deliveries/<int:pk>/retry/", webhooks.WebhookDeliveryRetry.as_view(), name="webhook_delivery_retry"),
    path("staff/inbound-rejections/", rejections.InboundRejectionList.as_view(), name="inbound_rejections"),
    path(
        "staff/inbound-rejections/export.csv",
        rejections.InboundRejectionList.as_view(export=True),
        name="inbound_rejections_export",
    ),
    path(
        "staff/customers/<int:pk>/accounts/<int:account_pk>/send-rate/",
        sendrate.send_rate,
        name="staff_send_rate",
    ),
    path(
        "staff/customers/<int:pk>/accounts/<int:account_pk>/send-rate/set/",
        sendrate.send_rate_set,
        name="staff_send_rate_set",
    ),
    path("staff/connectors/", include(connector_patterns)),
]
