from django.urls import path

from kontor.ledger import views, views_log, views_staff

app_name = "ledger"
urlpatterns = [
    path("", views.manage, name="manage"),
    path("transfer/", views.transfer, name="transfer"),
    path("wallets/<int:pk>/log/", views_log.log, name="log"),
    path("wallets/<int:pk>/log.csv", views_log.log_csv, name="log_csv"),
    path("wallets/<int:pk>/log/print/", views_log.log_print, name="log_print"),
    path("wallets/<int:pk>/threshold/", views.threshold, name="threshold"),
    path("staff/customers/<int:customer_pk>/", views_staff.wallets, name="staff_wallets"),
    path("staff/customers/<int:customer_pk>/wallets/<int:pk>/", views_staff.log, name="staff_log"),
    path("staff/customers/<int:customer_pk>/wallets/<int:pk>/history.csv", views_staff.log_csv, name="staff_log_csv"),
]
