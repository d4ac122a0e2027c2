from django.urls import path

from kontor.numbers import views, views_staff

app_name = "numbers"
urlpatterns = [
    # the current account
    path("", views.index, name="index"),
    path("mo-number/", views.mo_number, name="mo_number"),
    path("keywords/claim/", views.keyword_claim, name="keyword_claim"),
    path("keywords/<int:pk>/release/", views.KeywordRelease.as_view(), name="keyword_release"),
    path("unmatched/<int:pk>/", views.unmatched_set, name="unmatched_set"),
    path("keyword-orders/order/", views.keyword_order, name="keyword_order"),
    path("keyword-orders/", views.Orders.as_view(), name="orders"),
    # provider staff
    path("inventory/", views_staff.InventoryList.as_view(), name="inventory"),
    path("inventory/export.csv", views_staff.InventoryList.as_view(export=True), name="inventory_export"),
    path("inventory/add/", views_staff.NumberAdd.as_view(), name="number_add"),
    path("inventory/import/", views_staff.number_import, name="number_import"),
    path("inventory/<int:pk>/", views_staff.NumberEdit.as_view(), name="number_edit"),
    path("assign/", views_staff.assign, name="assign"),
    path("staff/keyword-orders/", views_staff.OrdersStaff.as_view(), name="orders_staff"),
    path("staff/keyword-orders/<int:pk>/approve/", views_staff.OrderApprove.as_view(), name="order_approve"),
    path("staff/keyword-orders/<int:pk>/reject/", views_staff.OrderReject.as_view(), name="order_reject"),
]
