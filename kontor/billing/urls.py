from django.urls import path

from kontor.billing import views, views_purchase

app_name = "billing"
urlpatterns = [
    path("invoices/", views.InvoiceList.as_view(), name="invoices"),
    path("invoices/export.csv", views.InvoiceList.as_view(export=True), name="invoices_export"),
    path("invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice_pdf"),
    path("prices/", views.price_lists, name="price_lists"),
    path("prices/lists/add/", views.PriceListEdit.as_view(), name="price_list_add"),
    path("prices/lists/<int:pk>/", views.PriceListEdit.as_view(), name="price_list_edit"),
    path("prices/lists/<int:list_pk>/tiers/add/", views.TierEdit.as_view(), name="tier_add"),
    path("prices/tiers/<int:pk>/", views.TierEdit.as_view(), name="tier_edit"),
    path("prices/tiers/<int:pk>/delete/", views.TierDelete.as_view(), name="tier_delete"),
    path("prices/countries/add/", views.CountryTaxEdit.as_view(), name="country_tax_add"),
    path("prices/countries/<int:pk>/", views.CountryTaxEdit.as_view(), name="country_tax_edit"),
]

# Buying credits is a credits page: kontor/urls.py mounts these under /credits/ in the ledger's namespace,
# so the page keeps its address and its name (ledger:purchase).
credits_urlpatterns = [
    path("purchase/", views_purchase.purchase, name="purchase"),
]
