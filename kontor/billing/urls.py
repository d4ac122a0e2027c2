from django.urls import path

from kontor.billing import views, views_purchase

app_name = "billing"
urlpatterns = [
    path("invoices/", views.invoices, name="invoices"),
    path("invoices/export.csv", views.invoices_export, name="invoices_export"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("prices/", views.price_lists, name="price_lists"),
    path("prices/lists/add/", views.price_list_edit, name="price_list_add"),
    path("prices/lists/<int:pk>/", views.price_list_edit, name="price_list_edit"),
    path("prices/lists/<int:list_pk>/tiers/add/", views.tier_add, name="tier_add"),
    path("prices/tiers/<int:pk>/", views.tier_edit, name="tier_edit"),
    path("prices/tiers/<int:pk>/delete/", views.tier_delete, name="tier_delete"),
    path("prices/countries/add/", views.country_tax_edit, name="country_tax_add"),
    path("prices/countries/<int:pk>/", views.country_tax_edit, name="country_tax_edit"),
]

# Buying credits is a credits page: kontor/urls.py mounts these under /credits/ in the ledger's namespace,
# so the page keeps its address and its name (ledger:purchase).
credits_urlpatterns = [
    path("purchase/", views_purchase.purchase, name="purchase"),
]
