from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "kontor.audit"
    label = "audit"
