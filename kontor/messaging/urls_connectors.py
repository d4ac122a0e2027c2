"""Staff pages for connectors; included by kontor.messaging.urls under staff/connectors/ (names in the
messaging namespace)."""

from django.urls import path

from kontor.messaging import views_connectors

urlpatterns = [
    path("", views_connectors.connectors, name="connectors"),
    path("add/", views_connectors.connector_add, name="connector_add"),
    path("<int:pk>/", views_connectors.connector_edit, name="connector_edit"),
    path("<int:pk>/enabled/", views_connectors.connector_enabled, name="connector_enabled"),
    path("customers/<int:pk>/", views_connectors.connector_routes, name="connector_routes"),
]
