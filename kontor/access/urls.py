from django.urls import path

from kontor.web.views import home

app_name = "access"
urlpatterns = [
    path("login/", home, name="login"),
    path("logout/", home, name="logout"),
    path("users/", home, name="users"),
    path("roles/", home, name="roles"),
    path("api-keys/", home, name="api_keys"),
    path("profile/", home, name="profile"),
    path("password/change/", home, name="password_change"),
]
