from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "kontor.tenancy"
    label = "tenancy"
