from django.urls import path

from kontor.web.views import home

app_name = "audit"
urlpatterns = [path("", home, name="log")]
