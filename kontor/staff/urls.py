from django.urls import path

from kontor.web.views import home

app_name = "staff"
urlpatterns = [
    path("customers/", home, name="customers"),
    path("onboard/", home, name="onboard"),
    path("cost-centers/", home, name="cost_centers"),
    path("features/", home, name="features"),
    path("audit/", home, name="audit"),
    path("staff-users/", home, name="staff_users"),
]
