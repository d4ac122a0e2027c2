from django.urls import path

from kontor.staff.views import audit, catalogue, customer_detail, customers, staff_users

app_name = "staff"
urlpatterns = [
    path("customers/", customers.CustomerList.as_view(), name="customers"),
    path("customers/export.csv", customers.CustomerList.as_view(export=True), name="customers_export"),
    path("onboard/", customers.Onboard.as_view(), name="onboard"),
    path("customers/<int:pk>/", customer_detail.customer_detail, name="customer"),
    path("customers/<int:pk>/edit/", customer_detail.customer_edit, name="customer_edit"),
    path("customers/<int:pk>/features/", customer_detail.customer_features, name="customer_features"),
    path("customers/<int:pk>/credit-mode/", customer_detail.customer_credit_mode, name="customer_credit_mode"),
    path("customers/<int:pk>/verify-caller/", customer_detail.customer_verify, name="customer_verify"),
    path("customers/<int:pk>/ip-allowlist/", customer_detail.customer_allowlist, name="customer_allowlist"),
    path(
        "customers/<int:pk>/users/<int:user_pk>/resend-welcome/",
        customer_detail.customer_resend_welcome,
        name="customer_resend_welcome",
    ),
    path("cost-centers/", catalogue.CostCenterList.as_view(), name="cost_centers"),
    path("cost-centers/add/", catalogue.CostCenterEdit.as_view(), name="cost_center_add"),
    path("cost-centers/<int:pk>/", catalogue.CostCenterEdit.as_view(), name="cost_center_edit"),
    path("features/", catalogue.FeatureList.as_view(), name="features"),
    path("features/add/", catalogue.FeatureEdit.as_view(), name="feature_add"),
    path("features/<int:pk>/", catalogue.FeatureEdit.as_view(), name="feature_edit"),
    path("staff-users/", staff_users.StaffUserList.as_view(), name="staff_users"),
    path("staff-users/add/", staff_users.StaffUserAdd.as_view(), name="staff_user_add"),
    path("staff-users/<int:pk>/active/", staff_users.StaffUserActive.as_view(), name="staff_user_active"),
    path("audit/", audit.AuditList.as_view(), name="audit"),
    path("audit/export.csv", audit.AuditList.as_view(export=True), name="audit_export"),
    path("audit/<int:pk>/", audit.AuditEntryDetail.as_view(), name="audit_entry"),
]
