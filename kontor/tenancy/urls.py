from django.urls import path

from kontor.web.views import home

app_name = "tenancy"
urlpatterns = [
    path("accounts/", home, name="accounts"),
    path("accounts/<int:pk>/", home, name="account_detail"),
    path("offices/", home, name="offices"),
    path("security/", home, name="security"),
    path("switch-account/", home, name="switch"),
]
