from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "kontor.billing"
    label = "billing"
